"""DRIFT007 out-of-range-values: current values fall outside the reference's [min, max] more often"
" than chance allows."""

from __future__ import annotations

from collections.abc import Iterable

from infermedic.drift.observations import ColumnStats, DriftObservations, TestKey
from infermedic.drift.rules.base import (
    DriftRule,
    fmt,
    json_safe,
    location,
    p_text,
    role_text,
    significant,
)
from infermedic.model import Evidence, EvidenceKind, Finding, Severity


class OutOfRangeValues(DriftRule):
    """## What it does
    Checks numeric columns for current values below the reference minimum or above the
    reference maximum.

    ## Why is this bad?
    Outside the training range models extrapolate: tree ensembles return the value of
    their outermost leaf, linear and neural models grow without bound. A unit change
    upstream (cents vs dollars) shows up here first.

    ## How it's measured
    Counts current finite values below the reference minimum or above its maximum (exact,
    from the bins around the reference range). If both samples came from one continuous
    distribution, each current value would fall outside with probability 2/(n+1); the p-value
    is the binomial tail of that, adjusted with every other test of the run. Flagged when the
    adjusted p < `alpha` (0.05) and the outside share >= `out-of-range-threshold` (1%).
    On a model output (`--prediction`, `--target`) it is reported as DRIFT002.
    """

    code = "DRIFT007"
    name = "out-of-range-values"
    severity = Severity.MEDIUM
    summary = (
        "Current values fall outside the reference's [min, max] more often than chance allows."
    )
    fix = (
        "Check units and scaling upstream (cents vs dollars, ms vs s), clip or reject impossible "
        "values at the service boundary, and retrain if the new range is real."
    )
    risk = (
        "Models extrapolate poorly: trees flatten, linear models blow up, and scaled inputs leave "
        "the range the model was fitted on."
    )
    checklist = ()

    def check(self, observations: DriftObservations) -> Iterable[Finding]:
        for column in observations.columns:
            if not column.is_output:
                found = outside_range(self, observations, column)
                if found is not None:
                    yield found


def outside_range(
    rule: DriftRule,
    observations: DriftObservations,
    column: ColumnStats,
    *,
    fingerprint_key: str | None = None,
) -> Finding | None:
    """A finding when the share of current values outside the reference's [min, max] passes
    the binomial test after the correction AND reaches `out-of-range-threshold`. DRIFT002
    judges model outputs the same way."""
    if column.numeric is None or column.numeric.shift is None:
        return None
    numeric, shift = column.numeric, column.numeric.shift
    options = observations.options
    if not (
        significant(observations, column.name, TestKey.OUT_OF_RANGE)
        and shift.out_of_range_share >= options.out_of_range_threshold
    ):
        return None
    adjusted = observations.adjusted_p(column.name, TestKey.OUT_OF_RANGE)
    reference, current = observations.reference.label, observations.current.label
    return rule.finding(
        location(observations, column),
        f"{column.name}{role_text(column)}: {shift.out_of_range_share:.2%} of current values "
        f"outside the reference range [{fmt(numeric.min_reference)}, "
        f"{fmt(numeric.max_reference)}]",
        evidence=(
            Evidence(
                kind=EvidenceKind.STATISTIC,
                action=f"count of {current}[{column.name}] values outside [min, max] of "
                f"{reference}[{column.name}]",
                observed=(
                    f"{shift.out_of_range_count} of {numeric.n_current} outside (current range "
                    f"[{fmt(numeric.min_current)}, {fmt(numeric.max_current)}]); chance level "
                    "2/(n+1); binomial "
                    + p_text(shift.out_of_range_p, adjusted, options.correction)
                ),
                values=json_safe(
                    {
                        "share": shift.out_of_range_share,
                        "count": shift.out_of_range_count,
                        "p": shift.out_of_range_p,
                        "p_adjusted": adjusted,
                    }
                ),
            ),
        ),
        fingerprint_key=fingerprint_key or f"{rule.code}:{column.name}",
    )
