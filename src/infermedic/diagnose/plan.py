"""Which checks a diagnosis runs, given the symptom's categories and the inputs the user gave."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from infermedic.diagnose.hypotheses import CAUSES, CheckKind
from infermedic.diagnose.router import Category

# The probe's parts each category needs (names of `infermedic.probe.plan.CheckName`).
PROBE_PARTS: dict[Category, tuple[str, ...]] = {
    Category.SLOW: ("contract", "load", "sweep", "blocking"),
    Category.SPIKES: ("contract", "load", "sweep", "blocking"),
    Category.FAILURES: ("contract", "load", "robustness"),
    Category.WRONG: ("contract", "robustness"),
    Category.ACCURACY: ("contract",),
    Category.MEMORY: ("contract", "load"),
}


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What the user gave diagnose to work with."""

    repo: Path | None = None
    url: str | None = None
    reference: str | None = None
    current: str | None = None
    pid: int | None = None
    model: str | None = None  # a model artifact or MODULE:ATTR, profiled offline
    model_input: Path | None = None  # a request body or sample rows for the model
    registry_model: str | None = None  # NAME[@ALIAS] in the MLflow registry
    tracking_uri: str | None = None  # the registry's server [default: MLFLOW_TRACKING_URI]

    @property
    def registry_target(self) -> str | None:
        """The registered model to judge: --registry-model, else the alias that a
        `--model-path models:/NAME@ALIAS` names."""
        if self.registry_model is not None:
            return self.registry_model
        if self.model is not None and self.model.startswith("models:/") and "@" in self.model:
            return self.model
        return None


@dataclass(frozen=True, kw_only=True)
class PlannedCheck:
    kind: CheckKind
    runnable: bool
    reason: str  # why it runs (the categories it serves) or which input would enable it
    probe_parts: tuple[str, ...] = ()


def plan_checks(categories: Sequence[Category], inputs: Inputs) -> list[PlannedCheck]:
    """The checks that can see a cause of these categories, each runnable or not, and why.

    Order matters: the data checks read the prediction logs before the live probe sends its
    own synthetic requests, which a logging service would add to those same logs.
    """
    wanted = {
        kind
        for cause in CAUSES
        if any(c in categories for c in cause.categories)
        for kind in cause.check_kinds()
    }
    planned: list[PlannedCheck] = []
    if CheckKind.AUDIT in wanted:
        planned.append(
            PlannedCheck(
                kind=CheckKind.AUDIT,
                runnable=inputs.repo is not None,
                reason="static causes in code, Dockerfile and manifests"
                if inputs.repo is not None
                else "give --repo PATH to audit the service's code and manifests",
            )
        )
    if CheckKind.DRIFT in wanted:
        has_data = inputs.reference is not None and inputs.current is not None
        planned.append(
            PlannedCheck(
                kind=CheckKind.DRIFT,
                runnable=has_data,
                reason="reference vs current data and predictions"
                if has_data
                else "give --reference REF --current CUR to compare data and predictions",
            )
        )
    if CheckKind.MODEL in wanted:
        planned.append(
            PlannedCheck(
                kind=CheckKind.MODEL,
                runnable=inputs.model is not None,
                reason="the model itself, measured in a worker: stages, threads, memory, options"
                if inputs.model is not None
                else "give --model-path PATH to measure the model artifact",
            )
        )
    if CheckKind.PROBE in wanted:
        parts = tuple(dict.fromkeys(p for c in categories for p in PROBE_PARTS[c]))
        planned.append(
            PlannedCheck(
                kind=CheckKind.PROBE,
                runnable=inputs.url is not None,
                reason=f"live checks: {', '.join(parts)}"
                if inputs.url is not None
                else "give --url URL to measure the running service",
                probe_parts=parts,
            )
        )
    if CheckKind.REGISTRY in wanted:
        target = inputs.registry_target
        planned.append(
            PlannedCheck(
                kind=CheckKind.REGISTRY,
                runnable=target is not None,
                reason=f"the registry: where {target} points, since when, and its runs"
                + ("" if inputs.url is not None else " (give --url to compare what serves)")
                if target is not None
                else "give --registry-model NAME@ALIAS to compare what serves with the registry",
            )
        )
    if CheckKind.PROFILE in wanted:
        runnable = inputs.pid is not None and inputs.url is not None
        planned.append(
            PlannedCheck(
                kind=CheckKind.PROFILE,
                runnable=runnable,
                reason="where the service's threads spend time under load (py-spy)"
                if runnable
                else "give --pid PID with --url to sample the service's stacks",
            )
        )
    return planned
