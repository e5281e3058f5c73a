"""MON005: a registered version's training run scores so high, or validates so well against
its own training score, that leakage is the likelier explanation."""

from __future__ import annotations

import re

from infermedic.audit.python.rules.suspiciously_high_metric import _METRIC_KEY, _NOT_SCORE
from infermedic.model import Evidence, EvidenceKind, Finding
from infermedic.registry.records import RunRecord, VersionRecord
from infermedic.registry.rules.base import RegistryContext, RegistryRule

_TRAIN = re.compile(r"^(?:train|training)[_.-]|[_.-](?:train|training)$", re.IGNORECASE)
_HELD_OUT = re.compile(
    r"^(?:val|valid|validation|eval|test|holdout)[_.-]|[_.-](?:val|valid|validation|eval|test)$",
    re.IGNORECASE,
)


class RegistryMetricSuggestsLeakage(RegistryRule):
    """Registered version's metric suggests leakage.

    ## What it does
    Reads the training run of the version the alias points to (and of every version the
    service reports) from the tracking server, and checks its logged metrics: a primary
    metric (accuracy, AUC, F1, precision, recall, R², average precision) above 0.99, or a
    held-out score (`val_*`, `test_*`, `eval_*`) at or above the run's own training score
    (`train_*`, `training_*`) while both are high. It names the metric, the run and the
    version.

    ## Why is this bad?
    A score above 0.99, or a validation score that matches training, usually means the
    target leaked into a feature, rows are duplicated across the split, or the model was
    evaluated on its training data. The registry then promotes a model on a number it will
    never reach in production, and the drop looks like drift later.

    ## How it's measured
    - Statistic: the latest logged value of each metric of the version's training run.
    - Window: the run as the registry returns it now.
    - Minimum samples: one logged metric whose name reads as a score.
    - Default threshold: above 0.99 (`metric-threshold`); a held-out score within 0.001 of
      or above the training score when both are at least 0.95 (`gap-floor`).

    ## Options
    `[tool.infermedic.registry]`: `metric-threshold`, `primary-metric` (judge only this
    metric), `gap-floor`.

    ## Known problems
    Some problems do score that high honestly (deduplicated synthetic data, trivial
    classes). MON004 checks metric files committed to the repository instead.
    """

    code = "MON005"
    name = "registry-metric-suggests-leakage"
    summary = (
        "The registered version's training run scores above 0.99, or validates as well as "
        "it trains."
    )
    risk = "The model was promoted on a score it cannot reach in production."
    fix = (
        "Check the run for leakage (features computed after the outcome, duplicates across "
        "the split, evaluation on training rows) and re-evaluate on a time-based holdout "
        "before the alias points to it."
    )
    checklist = ("D-06",)

    def check(self, ctx: RegistryContext) -> list[Finding]:
        findings: list[Finding] = []
        for version in ctx.checked_versions():
            run = ctx.snapshot.run(version.run_id)
            if run is None:
                continue
            problems = self._high(run, ctx) + self._gaps(run, ctx)
            if problems:
                findings.append(self._finding(ctx, version, run, problems))
        return findings

    def _scores(self, run: RunRecord, ctx: RegistryContext) -> dict[str, float]:
        wanted = ctx.options.primary_metric
        return {
            name: value
            for name, value in run.metrics.items()
            if (
                name == wanted
                if wanted
                else _METRIC_KEY.search(name) and not _NOT_SCORE.search(name)
            )
            and 0.0 <= value <= 1.0
        }

    def _high(self, run: RunRecord, ctx: RegistryContext) -> list[str]:
        limit = ctx.options.metric_threshold
        return [
            f"{name} = {value:.4g} (above {limit:g})"
            for name, value in sorted(self._scores(run, ctx).items())
            if value > limit and not _TRAIN.search(name)
        ]

    def _gaps(self, run: RunRecord, ctx: RegistryContext) -> list[str]:
        scores = self._scores(run, ctx)
        train = {_TRAIN.sub("", n).lower(): (n, v) for n, v in scores.items() if _TRAIN.search(n)}
        floor = ctx.options.gap_floor
        problems = []
        for name, value in sorted(scores.items()):
            if not _HELD_OUT.search(name):
                continue
            pair = train.get(_HELD_OUT.sub("", name).lower())
            if pair is None or value > ctx.options.metric_threshold:
                continue  # no training score to compare, or already named as too high
            if value >= floor and pair[1] >= floor and value >= pair[1] - 0.001:
                problems.append(
                    f"held-out {name} = {value:.4g} is not below training {pair[0]} = "
                    f"{pair[1]:.4g} (evaluation rows may overlap training rows)"
                )
        return problems

    def _finding(
        self, ctx: RegistryContext, version: VersionRecord, run: RunRecord, problems: list[str]
    ) -> Finding:
        evidence = Evidence(
            kind=EvidenceKind.COMMAND,
            action=f"MlflowClient.get_run({run.run_id!r}) on {ctx.snapshot.tracking_uri}",
            observed="; ".join(problems),
            values={"run_id": run.run_id, "version": version.version, "metrics": dict(run.metrics)},
        )
        return self.finding(
            ctx.location,
            f"{version.label()} was trained in {run.label()}: " + "; ".join(problems),
            evidence=[evidence],
            fingerprint_key=f"{version.name}/{version.version}",
        )
