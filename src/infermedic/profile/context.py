"""What profile rules read: the worker's measurements, the thresholds, and where the model is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity
from infermedic.profile.config import ProfileThresholds
from infermedic.rules import Rule


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileContext:
    """One profile run's results, keyed by phase (`load`, `batch-sweep`, `threads`, ...)."""

    results: Mapping[str, Any]
    thresholds: ProfileThresholds
    location: Location
    action: str  # the command that produced the measurements, for evidence

    def phase(self, name: str) -> Mapping[str, Any] | None:
        value = self.results.get(name)
        return value if isinstance(value, Mapping) else None

    def evidence(self, observed: str, **values: Any) -> Evidence:
        return Evidence(
            kind=EvidenceKind.MEASUREMENT, action=self.action, observed=observed, values=values
        )


class ProfileRule(Rule):
    """A measured rule that reads a `ProfileContext` and returns its findings."""

    measured: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.MEDIUM

    def check(self, context: ProfileContext) -> list[Finding]:
        raise NotImplementedError


def ms(seconds: float | None) -> str:
    """Milliseconds with three significant figures, the unit every profile message uses."""
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3g} ms"
