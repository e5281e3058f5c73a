"""The drift flow every engine shares: plan both inputs, profile the reference, profile the
current data on the reference's edges, compare the profiles, report.

Engines (DuckDB here, Spark in `spark/`) differ only in how they read data and build a
profile; this module and `compare` own everything else, so both give the same report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from infermedic.drift.compare import ExactResult, compare_profiles, selected_rules
from infermedic.drift.options import DriftOptions
from infermedic.drift.profile import ColumnKind, DatasetProfile
from infermedic.drift.profile_file import is_profile_file, load_profile
from infermedic.drift.sources import (
    ColumnOptions,
    ColumnPlan,
    is_text,
    is_untyped,
    physical_kind,
)
from infermedic.errors import DatasetError
from infermedic.model import Notification, NotificationLevel, Report
from infermedic.settings import Settings

Progress = Callable[[str], None]


class ProfilingEngine(Protocol):
    """What an engine provides: resolve an input, plan its columns, build a profile."""

    def resolve(self, spec: str | Path) -> Any: ...

    def plan(
        self, source: Any, options: ColumnOptions, *, sketches: bool = True
    ) -> tuple[ColumnPlan, int]: ...

    def build_profile(
        self,
        source: Any,
        kinds: Mapping[str, ColumnKind],
        dtypes: Mapping[str, str],
        *,
        reference: DatasetProfile | None = None,
        sketches: bool = True,
        excluded: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> DatasetProfile: ...


@dataclass(kw_only=True)
class ProfiledPair:
    """Both profiles of one comparison, and what was said along the way."""

    reference: DatasetProfile
    current: DatasetProfile
    reference_source: Any | None  # None when the reference was a saved profile
    current_source: Any
    reference_label: str
    columns: ColumnOptions
    notes: list[str]


def prediction_roles(options: ColumnOptions, names: Sequence[str]) -> ColumnOptions:
    """A column literally named `prediction` (what `infermedic.instrument` logs) is a prediction."""
    if options.predictions or "prediction" not in names:
        return options
    return replace(options, predictions=("prediction",))


def kinds_like_reference(
    kinds: dict[str, ColumnKind],
    dtypes: dict[str, str],
    reference: DatasetProfile,
    excluded: dict[str, str],
    *,
    guessed: frozenset[str] = frozenset(),
    numbers_from_text: bool = False,
) -> dict[str, ColumnKind]:
    """Compare current columns as the reference did; an impossible kind is a schema change.

    A column the reference compared is compared even when this data alone would have left it
    out by a guess (`guessed`: id-like text, a key with no values): a numeric column whose
    values partly turned into text looks like an identifier on its own, and hiding it would
    hide the type change. With `numbers_from_text` (an engine that can read numbers out of
    text and count what is not a number), a text column the reference had as numbers is read
    as numbers, so the type change is measured (share and examples of non-numbers) and the
    numbers left are still compared.
    """
    out = dict(kinds)
    for name, reason in reference.excluded.items():
        if name in out:
            out.pop(name)
            excluded[name] = reason
    for col in reference.columns:
        if col.name not in dtypes:
            continue
        dtype = dtypes[col.name]
        if col.name in excluded:
            if col.name not in guessed or not numbers_from_text:
                continue  # the user left it out (or the engine cannot read it as the reference)
            excluded.pop(col.name)
            # a type with no kind (a date read from `inf`) is compared as text: a type change
            untyped_kind = col.kind if is_untyped(dtype) else ColumnKind.CATEGORICAL
            out[col.name] = physical_kind(dtype) or untyped_kind
        elif col.name not in out:
            kind = physical_kind(dtype)
            if kind is None:
                continue
            out[col.name] = kind
        if col.kind is ColumnKind.CATEGORICAL:
            out[col.name] = ColumnKind.CATEGORICAL  # numbers forced categorical in the reference
        elif numbers_from_text and (is_text(dtype) or is_untyped(dtype)):
            out[col.name] = ColumnKind.NUMERIC
    return out


def check_rows(label: str, rows: int) -> None:
    if rows == 0:
        raise DatasetError(f"{label} has no rows", hint="point drift at data with rows in it")
    if rows < 2:
        raise DatasetError(
            f"{label} has a single row: no distribution can be compared",
            hint="compare batches of at least a few hundred rows",
        )


def profile_pair(
    engine: ProfilingEngine,
    reference: str | Path,
    current: str | Path,
    columns: ColumnOptions,
    *,
    progress: Progress | None = None,
) -> ProfiledPair:
    """Profile the reference (unless it is a saved profile) and the current data on its edges."""
    notes: list[str] = []
    if is_profile_file(Path(str(current))):
        raise DatasetError(
            f"{current} is a saved drift profile: only the reference may be a profile",
            hint="give the current data itself (Parquet, CSV or JSONL)",
        )
    current_source = engine.resolve(current)
    reference_path = Path(str(reference))
    reference_source: Any | None = None
    reference_profile: DatasetProfile | None = None
    # A `.profile` file is read as a profile even when its head is damaged, so the error
    # names the damage instead of a parse error of "data".
    if is_profile_file(reference_path) or (
        reference_path.suffix == ".profile" and reference_path.is_file()
    ):
        reference_profile = load_profile(reference_path)
        reference_label = str(reference)
    else:
        reference_source = engine.resolve(reference)
        reference_label = reference_source.label
    current_plan, current_rows = engine.plan(current_source, columns, sketches=False)
    columns = prediction_roles(columns, list(current_plan.kinds))
    check_rows(current_source.label, current_rows)
    if reference_source is not None:
        reference_plan, reference_rows = engine.plan(reference_source, columns)
        check_rows(reference_source.label, reference_rows)
        notes += reference_plan.notes
        if progress:
            progress("profiling the reference")
        # compared right away: its sketches would never be read (bins carry the comparison)
        reference_profile = engine.build_profile(
            reference_source,
            reference_plan.kinds,
            reference_plan.dtypes,
            sketches=False,
            excluded=reference_plan.excluded,
            progress=progress,
        )
    assert reference_profile is not None
    notes += current_plan.notes
    excluded = dict(current_plan.excluded)
    kinds = kinds_like_reference(
        dict(current_plan.kinds),
        dict(current_plan.dtypes),
        reference_profile,
        excluded,
        guessed=current_plan.guessed,
        numbers_from_text=getattr(engine, "numbers_from_text", False),
    )
    if progress:
        progress("profiling the current data")
    current_profile = engine.build_profile(
        current_source,
        kinds,
        current_plan.dtypes,
        reference=reference_profile,
        sketches=False,
        excluded=excluded,
        progress=progress,
    )
    return ProfiledPair(
        reference=reference_profile,
        current=current_profile,
        reference_source=reference_source,
        current_source=current_source,
        reference_label=reference_label,
        columns=columns,
        notes=notes,
    )


def drift_report(
    pair: ProfiledPair,
    *,
    options: DriftOptions,
    exact: Mapping[str, ExactResult],
    settings: Settings | None,
    started: float,
    started_at: str,
    measurements: Mapping[str, Any] | None = None,
) -> Report:
    """Compare the pair's profiles and turn the comparison into the drift report."""
    rules = selected_rules(settings.select, settings.ignore) if settings else selected_rules()
    comparison = compare_profiles(
        pair.reference,
        pair.current,
        options=options,
        predictions=pair.columns.predictions,
        targets=pair.columns.targets,
        exact=exact,
        reference_label=pair.reference_label,
        current_label=pair.current_source.label,
        rules=rules,
    )
    notifications = [
        Notification(
            level=NotificationLevel.WARNING if "mixes types" in n else NotificationLevel.NOTE,
            message=n,
        )
        for n in pair.notes
    ]
    return Report(
        tool="drift",
        findings=comparison.findings,
        notifications=(*notifications, *comparison.notifications),
        rules_run=comparison.rules_run,
        inputs=(pair.reference_label, pair.current_source.label),
        tables=comparison.tables,
        plots=comparison.plots,
        measurements={
            **comparison.measurements,
            # which columns are the model's outputs: a finding on them is a prediction shift
            "roles": {
                "predictions": list(pair.columns.predictions),
                "targets": list(pair.columns.targets),
            },
            **(measurements or {}),
        },
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        headline=comparison.headline,
    )
