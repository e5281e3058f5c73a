"""The DRIFT rule shape, `check(observations) -> Iterable[Finding]`, and the wording its
findings share (numbers, p-values, where a column is)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from infermedic.drift.observations import ColumnStats, DriftObservations, TestKey
from infermedic.drift.options import Correction
from infermedic.model import Finding, Location, Notification
from infermedic.rules import Rule


class DriftRule(Rule):
    """A DRIFT rule: judges one comparison's typed observations. It never measures."""

    measured = True

    def check(self, observations: DriftObservations) -> Iterable[Finding | Notification]:
        """The rule's findings, and a note for what it wants said that is not a finding
        (a type difference it let pass); the shared runner (`infermedic.runner`) runs it."""
        raise NotImplementedError


def fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:.3g}"


def significant(observations: DriftObservations, column: str, test: TestKey) -> bool:
    """The test's adjusted p-value is below `alpha` (a test that did not run never is)."""
    adjusted = observations.adjusted_p(column, test)
    return not math.isnan(adjusted) and adjusted < observations.options.alpha


def p_text(p_value: float, adjusted: float, correction: Correction) -> str:
    label = "BH-adjusted" if correction is Correction.BH else "Bonferroni-adjusted"
    return f"p={fmt(p_value)} ({label} {fmt(adjusted)})"


def location(observations: DriftObservations, column: ColumnStats) -> Location:
    return Location(dataset=observations.current.label, column_name=column.name)


def role_text(column: ColumnStats) -> str:
    """` (prediction)` or ` (target)` after a model output's name; nothing for a feature."""
    return "" if not column.is_output else f" ({column.role.value})"


def samples_text(
    observations: DriftObservations, column: ColumnStats, n_reference: int, n_current: int
) -> str:
    return (
        f"{observations.reference.label}[{column.name}] (n={n_reference}) "
        f"vs {observations.current.label}[{column.name}] (n={n_current})"
    )


def json_safe(values: Mapping[str, Any]) -> dict[str, Any]:
    """Evidence values as JSON allows them: non-finite floats become None."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        elif isinstance(value, Mapping):
            value = json_safe(value)
        out[key] = value
    return out
