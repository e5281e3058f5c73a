"""Data and prediction drift: profile a reference once, compare current data against it.

`drift(reference, current, ...)` is the library entry point (the CLI is a thin layer over
it); `profile_dataset` and `merge_profile_files` build and merge the saved profiles that
`drift` accepts in place of raw reference data. Engines build profiles; `compare` compares
them and knows nothing of engines.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from infermedic.drift.compare import ExactResult, compare_profiles
from infermedic.drift.duckdb_engine import DuckDBEngine
from infermedic.drift.options import Correction, DriftOptions
from infermedic.drift.profile import (
    ColumnKind,
    DatasetProfile,
    is_profile_file,
    load_profile,
    merge_profiles,
    save_profile,
)
from infermedic.drift.rules import RULES
from infermedic.drift.sources import ColumnOptions, DataSource, physical_kind, resolve_source
from infermedic.errors import DatasetError
from infermedic.model import Notification, NotificationLevel, Report
from infermedic.rules import Registry
from infermedic.settings import Settings

Progress = Callable[[str], None]

__all__ = [
    "ColumnOptions",
    "Correction",
    "DatasetProfile",
    "DriftOptions",
    "drift",
    "merge_profile_files",
    "profile_dataset",
]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _prediction_roles(options: ColumnOptions, names: Sequence[str]) -> ColumnOptions:
    """A column literally named `prediction` (what `infermedic.instrument` logs) is a prediction."""
    if options.predictions or "prediction" not in names:
        return options
    return replace(options, predictions=("prediction",))


def profile_dataset(
    data: str | Path,
    *,
    column_options: ColumnOptions | None = None,
    reference: DatasetProfile | None = None,
    engine: DuckDBEngine | None = None,
    progress: Progress | None = None,
) -> tuple[DatasetProfile, tuple[str, ...]]:
    """Profile `data` (a file, directory or glob). With `reference`, bin on its edges and use
    its column kinds (a current profile that merges exactly with others made the same way).

    Returns the profile and notes worth a notification (mixed types ...).
    """
    source = resolve_source(data)
    own = engine is None
    eng = engine or DuckDBEngine()
    try:
        options = column_options or ColumnOptions()
        plan, rows = eng.plan(source, options)
        _check_rows(source, rows)
        kinds = dict(plan.kinds)
        excluded = dict(plan.excluded)
        if reference is not None:
            kinds = _kinds_like_reference(kinds, dict(plan.dtypes), reference, excluded)
        profile = eng.build_profile(
            source,
            kinds,
            plan.dtypes,
            reference=reference,
            sketches=True,
            excluded=excluded,
            progress=progress,
        )
        return replace(profile, created_at=_now()), plan.notes
    finally:
        if own:
            eng.close()


def _kinds_like_reference(
    kinds: dict[str, ColumnKind],
    dtypes: dict[str, str],
    reference: DatasetProfile,
    excluded: dict[str, str],
) -> dict[str, ColumnKind]:
    """Compare current columns as the reference did; an impossible kind is a schema change."""
    out = dict(kinds)
    for name, reason in reference.excluded.items():
        if name in out:
            out.pop(name)
            excluded[name] = reason
    for col in reference.columns:
        if col.name in dtypes and col.name not in out and col.name not in excluded:
            kind = physical_kind(dtypes[col.name])
            if kind is not None:
                out[col.name] = kind
        if col.name in out and col.kind is ColumnKind.CATEGORICAL:
            out[col.name] = ColumnKind.CATEGORICAL  # numbers forced categorical in the reference
        excluded.pop(col.name, None) if col.name in out else None
    return out


def _check_rows(source: DataSource, rows: int) -> None:
    if rows == 0:
        raise DatasetError(
            f"{source.label} has no rows", hint="point drift at data with rows in it"
        )
    if rows < 2:
        raise DatasetError(
            f"{source.label} has a single row: no distribution can be compared",
            hint="compare batches of at least a few hundred rows",
        )


def drift(
    reference: str | Path,
    current: str | Path,
    *,
    options: DriftOptions | None = None,
    column_options: ColumnOptions | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> Report:
    """Compare current data with a reference (raw data or a saved profile) and report drift."""
    started = time.perf_counter()
    started_at = _now()
    opts = options or DriftOptions()
    cols = column_options or ColumnOptions()
    notes: list[str] = []
    with DuckDBEngine() as engine:
        current_source = resolve_source(current)
        ref_path = Path(str(reference))
        ref_source: DataSource | None = None
        if is_profile_file(ref_path):
            reference_profile = load_profile(ref_path)
            ref_label = str(reference)
        else:
            ref_source = resolve_source(reference)
            ref_label = ref_source.label
        cur_plan, cur_rows = engine.plan(current_source, cols)
        cols = _prediction_roles(cols, list(cur_plan.kinds))
        _check_rows(current_source, cur_rows)
        if ref_source is not None:
            ref_plan, ref_rows = engine.plan(ref_source, cols)
            _check_rows(ref_source, ref_rows)
            notes += ref_plan.notes
            if progress:
                progress("profiling the reference")
            reference_profile = engine.build_profile(
                ref_source,
                ref_plan.kinds,
                ref_plan.dtypes,
                excluded=ref_plan.excluded,
                progress=progress,
            )
        notes += cur_plan.notes
        excluded = dict(cur_plan.excluded)
        kinds = _kinds_like_reference(
            dict(cur_plan.kinds), dict(cur_plan.dtypes), reference_profile, excluded
        )
        if progress:
            progress("profiling the current data")
        current_profile = engine.build_profile(
            current_source,
            kinds,
            cur_plan.dtypes,
            reference=reference_profile,
            sketches=False,
            excluded=excluded,
            progress=progress,
        )
        exact: dict[str, ExactResult] = {}
        if ref_source is not None and opts.exact_ks:
            exact, skipped = _exact_tests(
                engine,
                ref_source,
                current_source,
                reference_profile,
                current_profile,
                opts,
                progress,
            )
            if skipped:
                notes.append(skipped)
        elif opts.exact_ks:
            notes.append(
                "KS and Wasserstein come from the reference profile's ~1000 quantile bins "
                "(bounds stated per column); compare raw data for exact values"
            )
    comparison = compare_profiles(
        reference_profile,
        current_profile,
        options=opts,
        predictions=cols.predictions,
        targets=cols.targets,
        exact=exact,
        reference_label=ref_label,
        current_label=current_source.label,
    )
    findings = comparison.findings
    if settings is not None and (settings.select or settings.ignore):
        chosen = {r.code for r in Registry.default().select(settings.select, settings.ignore)}
        findings = tuple(f for f in findings if f.code in chosen)
    notifications = [
        Notification(
            level=NotificationLevel.WARNING if "mixes types" in n else NotificationLevel.NOTE,
            message=n,
        )
        for n in notes
    ]
    return Report(
        tool="drift",
        findings=findings,
        notifications=(*notifications, *comparison.notifications),
        rules_run=tuple(r.code for r in RULES),
        inputs=(ref_label, current_source.label),
        tables=comparison.tables,
        plots=comparison.plots,
        measurements=comparison.measurements,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
    )


def _exact_tests(
    engine: DuckDBEngine,
    reference: DataSource,
    current: DataSource,
    reference_profile: DatasetProfile,
    current_profile: DatasetProfile,
    options: DriftOptions,
    progress: Progress | None,
) -> tuple[dict[str, ExactResult], str | None]:
    exact: dict[str, ExactResult] = {}
    if reference_profile.rows + current_profile.rows > options.exact_ks_max_rows:
        return exact, (
            f"exact KS skipped: {reference_profile.rows + current_profile.rows} rows exceed "
            f"exact-ks-max-rows={options.exact_ks_max_rows}; KS and Wasserstein are bounded from "
            "bins"
        )
    for ref_col in reference_profile.columns:
        cur_col = current_profile.column(ref_col.name)
        if (
            ref_col.kind is not ColumnKind.NUMERIC
            or cur_col is None
            or cur_col.kind is not ColumnKind.NUMERIC
            or ref_col.numeric is None
            or cur_col.numeric is None
            or ref_col.numeric.count == 0
            or cur_col.numeric.count == 0
        ):
            continue
        if progress:
            progress(f"exact KS on {ref_col.name}")
        binning = ref_col.numeric.binning
        result = engine.exact_numeric(
            reference,
            current,
            ref_col.name,
            ref_col.numeric.count,
            cur_col.numeric.count,
            few_distinct=binning is not None and len(binning.edges) < 900,
        )
        exact[ref_col.name] = ExactResult(
            ks_statistic=result.ks_statistic, wasserstein=result.wasserstein
        )
    return exact, None


def merge_profile_files(paths: Sequence[Path], output: Path) -> DatasetProfile:
    """Merge saved profiles into one and write it to `output`."""
    profiles = [load_profile(p) for p in paths]
    merged = replace(merge_profiles(profiles), created_at=_now())
    save_profile(merged, output)
    return merged
