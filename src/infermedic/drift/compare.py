"""Compare two drift profiles into what a report holds: measure, then judge.

`measure.observe` turns the two profiles (plus exact two-sample results where the engine ran
them) into typed `DriftObservations`; `judge` runs the selected DRIFT rules on them, each
isolated (a rule that crashes is a notification and leaves the run "partial"), and adds
what the comparison wants said, the per-column table and the plots. Nothing here knows of
engines, and nothing here decides a finding: the rules do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infermedic.drift.measure import ExactResult, observe
from infermedic.drift.observations import DriftObservations
from infermedic.drift.options import DriftOptions
from infermedic.drift.presentation import (
    MAX_DRIFTED_PLOTS,
    MAX_STABLE_PLOTS,
    drift_headline,
    drift_measurements,
    drift_plots,
    drift_table,
)
from infermedic.drift.profile import PSI_BINS, DatasetProfile
from infermedic.drift.rules import RULES
from infermedic.drift.rules.base import DriftRule
from infermedic.drift.rules.schema_change import SchemaChange
from infermedic.model import Finding, Notification, NotificationLevel, Plot, Table
from infermedic.runner import run_rules, select_rules


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """What a comparison produced, before it is wrapped into a `Report`."""

    findings: tuple[Finding, ...]
    notifications: tuple[Notification, ...]
    tables: tuple[Table, ...]
    plots: tuple[Plot, ...]
    measurements: Mapping[str, Any]
    rules_run: tuple[str, ...] = ()
    observations: DriftObservations | None = None
    headline: str = ""


def selected_rules(
    select: Sequence[str] = (), ignore: Sequence[str] = ()
) -> tuple[type[DriftRule], ...]:
    """The DRIFT rules `--select/--ignore` leave; an entry matching no rule of any domain is
    a `ConfigError` with a did-you-mean (a selection of other domains' rules leaves none)."""
    if not select and not ignore:
        return RULES
    return tuple(select_rules(RULES, select, ignore))


def compare_profiles(
    reference: DatasetProfile,
    current: DatasetProfile,
    *,
    options: DriftOptions,
    predictions: Sequence[str] = (),
    targets: Sequence[str] = (),
    exact: Mapping[str, ExactResult] | None = None,
    reference_label: str | None = None,
    current_label: str | None = None,
    rules: Sequence[type[DriftRule]] = RULES,
) -> Comparison:
    observations = observe(
        reference,
        current,
        options=options,
        predictions=predictions,
        targets=targets,
        exact=exact,
        reference_label=reference_label,
        current_label=current_label,
    )
    return judge(observations, rules=rules)


def judge(
    observations: DriftObservations, *, rules: Sequence[type[DriftRule]] = RULES
) -> Comparison:
    """Run `rules` on the observations and assemble the comparison."""
    # the shared runner: a rule that raises is a notification naming it, and the run goes on
    outcome = run_rules(rules, observations)
    findings = _in_column_order(outcome.findings, observations)
    notifications = [
        *_target_notes(observations),
        *outcome.notifications,
        *_comparison_notes(observations),
    ]
    drawn = drift_plots(observations, findings)
    if drawn.not_plotted:
        notifications.append(
            Notification(
                level=NotificationLevel.NOTE,
                message=f"{drawn.not_plotted} column(s) not plotted: the {len(drawn.plots)} "
                f"plots show the drifted columns (up to {MAX_DRIFTED_PLOTS}), then the "
                f"{MAX_STABLE_PLOTS} stable ones with the largest effect; the table and "
                "`measurements.columns` have every column",
            )
        )
    measurements = {
        **drift_measurements(observations),
        "columns_not_plotted": drawn.not_plotted,
        # a rule that crashed leaves the comparison incomplete: the CLI exits 2 on "partial"
        **outcome.status(),
    }
    return Comparison(
        findings=findings,
        notifications=tuple(notifications),
        tables=(drift_table(observations),),
        plots=drawn.plots,
        measurements=measurements,
        rules_run=outcome.rules_run,
        observations=observations,
        headline=drift_headline(observations, findings, complete=outcome.complete),
    )


def _in_column_order(
    findings: Iterable[Finding], observations: DriftObservations
) -> tuple[Finding, ...]:
    """Schema changes first, then each column's findings in the reference's column order and
    the catalogue's rule order (a stable sort keeps each rule's own order)."""
    position = {c.name: i for i, c in enumerate(observations.columns)}
    catalogue = {r.code: i for i, r in enumerate(RULES)}

    def key(finding: Finding) -> tuple[int, int, int]:
        if finding.code == SchemaChange.code:
            return (0, 0, 0)
        column = position.get(finding.location.column_name or "", len(position))
        return (1, column, catalogue.get(finding.code, len(catalogue)))

    return tuple(sorted(findings, key=key))


def _target_notes(observations: DriftObservations) -> Iterable[Notification]:
    # Labels arrive after predictions: a target missing from production data is expected,
    # not a schema change. Say so, and compare what is there.
    for name in observations.absent_targets:
        yield Notification(
            level=NotificationLevel.NOTE,
            message=f"target {name!r} is not in the current data (labels not joined yet): "
            "no target drift computed",
        )
    reference = {c.name for c in observations.reference.columns}
    current = {c.name for c in observations.current.columns}
    for name in observations.targets:
        if name not in reference and name not in current:
            yield Notification(
                level=NotificationLevel.WARNING,
                message=f"target {name!r} is in neither dataset: check the column name",
            )


def _comparison_notes(observations: DriftObservations) -> Iterable[Notification]:
    """Columns left out, too few rows to tell, and what the measurement of each column could
    not do (a warning) or did worth saying (a note)."""
    reference, current = observations.reference, observations.current
    for name, reason in sorted({**reference.excluded, **current.excluded}.items()):
        yield Notification(
            level=NotificationLevel.NOTE, message=f"column {name!r} not compared: {reason}"
        )
    min_rows = observations.options.min_rows
    for side in (reference, current):
        if side.rows < min_rows:
            yield Notification(
                level=NotificationLevel.WARNING,
                message=(
                    f"{side.label} has only {side.rows} rows (< {min_rows}): the tests have "
                    "little power, so 'no drift' here means 'not enough data to tell'"
                ),
            )
    for column in observations.columns:
        for note in column.warnings:
            yield Notification(level=NotificationLevel.WARNING, message=note)
        for note in column.remarks:
            yield Notification(level=NotificationLevel.NOTE, message=note)
    if not observations.columns:
        yield Notification(
            level=NotificationLevel.ERROR,
            message="no column could be compared: the datasets share no comparable column",
        )


__all__ = ["PSI_BINS", "Comparison", "ExactResult", "compare_profiles", "judge", "selected_rules"]
