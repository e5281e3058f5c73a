"""What profile rules read: the typed measurements, the thresholds, and where the model is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity
from infermedic.profile.config import ProfileThresholds
from infermedic.profile.live_results import LiveSummary
from infermedic.profile.results import ProfileResults, to_json_value
from infermedic.rules import Rule


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileObservations:
    """One profile run as the PROF rules judge it: the worker's typed phase results (a
    model profile) or a live py-spy summary (`profile --pid`), with the thresholds, the
    location findings point at, and the command that measured (for evidence)."""

    results: ProfileResults = field(default_factory=ProfileResults)
    live: LiveSummary | None = None  # `profile --pid`: a live service's py-spy summary
    thresholds: ProfileThresholds = field(default_factory=ProfileThresholds)
    location: Location
    action: str

    def evidence(self, observed: str, **values: Any) -> Evidence:
        return Evidence(
            kind=EvidenceKind.MEASUREMENT, action=self.action, observed=observed, values=values
        )


class ProfileRule(Rule):
    """A measured rule: `check(observations)` yields its findings from typed results."""

    measured: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.MEDIUM
    # The result phases the rule reads (`live`: a `profile --pid` summary); it judges when
    # any of them ran, and is otherwise left out of `rules_run` with a note saying why.
    phases: ClassVar[tuple[str, ...]] = ()

    def check(self, observations: ProfileObservations) -> Iterable[Finding]:
        raise NotImplementedError


def ms(seconds: float | None) -> str:
    """Milliseconds with three significant figures, the unit every profile message uses."""
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3g} ms"


def as_json(value: Any) -> Any:
    """A typed result (or a tuple of them) as the JSON evidence values hold."""
    return to_json_value(value)
