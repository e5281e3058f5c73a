"""Data and prediction drift: profile a reference once, compare current data against it.

`drift(reference, current, ...)` is the library entry point (the CLI is a thin layer over
it); `profile_dataset` and `merge_profile_files` build and merge the saved profiles that
`drift` accepts in place of raw reference data; `observe_drift` stops before judging and
returns the typed per-column statistics. Engines build profiles; `measure.observe` turns two
profiles into `DriftObservations`, the DRIFT rules judge those, and neither knows of engines.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from infermedic.drift.compare import selected_rules
from infermedic.drift.duckdb_engine import DuckDBEngine
from infermedic.drift.flow import (
    ProfiledPair,
    check_rows,
    drift_report,
    kinds_like_reference,
    profile_pair,
)
from infermedic.drift.measure import ExactResult, observe
from infermedic.drift.observations import DriftObservations
from infermedic.drift.options import Correction, DriftOptions
from infermedic.drift.profile import ColumnKind, DatasetProfile, merge_profiles
from infermedic.drift.profile_file import load_profile, save_profile
from infermedic.drift.sources import ColumnOptions, DataSource, resolve_source
from infermedic.model import Report
from infermedic.settings import Settings

Progress = Callable[[str], None]

__all__ = [
    "ColumnOptions",
    "Correction",
    "DatasetProfile",
    "DriftOptions",
    "drift",
    "merge_profile_files",
    "observe_drift",
    "profile_dataset",
]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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
        check_rows(source.label, rows)
        kinds = dict(plan.kinds)
        excluded = dict(plan.excluded)
        if reference is not None:
            kinds = kinds_like_reference(
                kinds,
                dict(plan.dtypes),
                reference,
                excluded,
                guessed=plan.guessed,
                numbers_from_text=eng.numbers_from_text,
            )
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
    # an unknown --select/--ignore entry is a usage error before any data is read
    if settings is not None:
        selected_rules(settings.select, settings.ignore)
    pair, exact = _measure(reference, current, opts, column_options, progress)
    return drift_report(
        pair, options=opts, exact=exact, settings=settings, started=started, started_at=started_at
    )


def observe_drift(
    reference: str | Path,
    current: str | Path,
    *,
    options: DriftOptions | None = None,
    column_options: ColumnOptions | None = None,
    progress: Progress | None = None,
) -> DriftObservations:
    """What `drift` measures, before any rule judges it: the typed per-column statistics."""
    opts = options or DriftOptions()
    pair, exact = _measure(reference, current, opts, column_options, progress)
    return observe(
        pair.reference,
        pair.current,
        options=opts,
        predictions=pair.columns.predictions,
        targets=pair.columns.targets,
        exact=exact,
        reference_label=pair.reference_label,
        current_label=pair.current_source.label,
    )


def _measure(
    reference: str | Path,
    current: str | Path,
    options: DriftOptions,
    column_options: ColumnOptions | None,
    progress: Progress | None,
) -> tuple[ProfiledPair, dict[str, ExactResult]]:
    """Both profiles, and exact KS and Wasserstein per numeric column where raw data allows."""
    # exact tests are computed while each column's sorted values are at hand
    with DuckDBEngine(
        exact_max_rows=options.exact_ks_max_rows if options.exact_ks else 0
    ) as engine:
        pair = profile_pair(
            engine, reference, current, column_options or ColumnOptions(), progress=progress
        )
        exact: dict[str, ExactResult] = {}
        if pair.reference_source is not None and options.exact_ks:
            exact, skipped = _exact_tests(
                engine,
                pair.reference_source,
                pair.current_source,
                pair.reference,
                pair.current,
                options,
                progress,
            )
            if skipped:
                pair.notes.append(skipped)
        elif options.exact_ks:
            pair.notes.append(
                "KS and Wasserstein come from the reference profile's ~1000 quantile bins "
                "(bounds stated per column); compare raw data for exact values"
            )
    return pair, exact


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
            reference_dtype=ref_col.dtype,
            current_dtype=cur_col.dtype,
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
