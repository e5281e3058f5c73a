"""PROF008: the same input gives different outputs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule


class NondeterministicOutput(ProfileRule):
    """## What it does
    Checks whether calling the model twice on the same input gives the same output.

    ## Why is this bad?
    A model that answers the same request differently (random state drawn at predict time,
    dropout left on, unordered parallel reductions) makes wrong-prediction reports
    impossible to reproduce, breaks caching and A/B comparisons, and fails robustness
    checks that send the same request twice.

    ## How it's measured
    Three calls on the same batch (the recommended batch); the outputs of the second and
    third are compared with the first. Fires when the maximum absolute difference exceeds
    `determinism-tolerance` (default 1e-9) or any label differs.
    """

    code: ClassVar[str] = "PROF008"
    name: ClassVar[str] = "nondeterministic-output"
    severity: ClassVar[Severity] = Severity.MEDIUM
    summary: ClassVar[str] = "The model gives different outputs for the same input."
    fix: ClassVar[str] = (
        "Fix the random state used at prediction time (`random_state=`, a seeded generator), "
        "put torch models in `eval()`, and make parallel reductions ordered."
    )
    risk: ClassVar[str] = "Predictions cannot be reproduced, cached or compared."
    phases: ClassVar[tuple[str, ...]] = ("determinism",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        result = observations.results.determinism
        if result is None:
            return
        diff = result.max_abs_diff
        agreement = result.label_agreement
        if diff <= observations.thresholds.determinism_tolerance and agreement >= 1.0:
            return
        message = f"three calls on the same {result.batch}-row batch differ by up to {diff:.3g}" + (
            f"; labels agree on {agreement:.1%} of rows" if agreement < 1.0 else ""
        )
        evidence = observations.evidence(
            "called the model three times on the same batch and compared the outputs",
            batch=result.batch,
            calls=result.calls,
            max_abs_diff=diff,
            label_agreement=agreement,
        )
        yield self.finding(observations.location, message, evidence=[evidence])
