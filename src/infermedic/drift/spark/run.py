"""`drift(REF, CUR)` with the profiles built on Spark; comparison and findings are shared.

The flow is the DuckDB engine's (plan both inputs, profile the reference on its own KLL
quantiles, profile the current data on the reference's edges, compare the profiles), with
two differences that the report states: KS and Wasserstein are bounded from exact counts in
the ~1000 reference-quantile bins (no exact two-sample pass over raw data on a cluster), and
the session start is timed apart from the profiling.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from infermedic.drift.api import _check_rows, _kinds_like_reference, _prediction_roles
from infermedic.drift.compare import compare_profiles
from infermedic.drift.options import DriftOptions
from infermedic.drift.profile import DatasetProfile, is_profile_file, load_profile
from infermedic.drift.rules import RULES
from infermedic.drift.sources import ColumnOptions, DataSource, FileFormat
from infermedic.drift.spark.profile import SparkEngine, profile_on_spark
from infermedic.drift.spark.session import SparkSettings, spark_session
from infermedic.drift.spark.sources import SparkSource
from infermedic.model import Notification, NotificationLevel, Report
from infermedic.rules import Registry
from infermedic.settings import Settings

Progress = Callable[[str], None]

KS_NOTE = (
    "Spark engine: KS and Wasserstein are bounded from exact counts in ~1000 reference-quantile "
    "bins (interval stated per column); the DuckDB engine computes them exactly"
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _as_data_source(source: SparkSource) -> DataSource:
    """`_check_rows` only reads the label; it takes the DuckDB engine's source type."""
    return DataSource(label=source.label, files=source.paths, file_format=FileFormat.PARQUET)


def profile_dataset_on_spark(
    data: str | Path,
    *,
    spark: SparkSettings | None = None,
    column_options: ColumnOptions | None = None,
    reference: DatasetProfile | None = None,
    progress: Progress | None = None,
) -> tuple[DatasetProfile, tuple[str, ...]]:
    """`infermedic.drift.profile_dataset` on Spark: a session of its own, always stopped."""
    settings = spark or SparkSettings()
    with spark_session(settings) as session:
        return profile_on_spark(
            data,
            engine=SparkEngine(session, where=settings.where, job_timeout_s=settings.job_timeout_s),
            column_options=column_options,
            reference=reference,
            progress=progress,
        )


@contextmanager
def _engine(settings: SparkSettings, engine: SparkEngine | None) -> Iterator[SparkEngine]:
    if engine is not None:
        yield engine
        return
    with spark_session(settings) as spark:
        yield SparkEngine(spark, where=settings.where, job_timeout_s=settings.job_timeout_s)


def drift_on_spark(
    reference: str | Path,
    current: str | Path,
    *,
    spark: SparkSettings | None = None,
    options: DriftOptions | None = None,
    column_options: ColumnOptions | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    engine: SparkEngine | None = None,
) -> Report:
    """Compare current data with a reference (data Spark reads, or a saved profile) on Spark.

    Without `engine` a session is started from `spark` and stopped at the end, whatever
    happens; with one, its session is used and left open (several comparisons, one JVM).
    """
    started = time.perf_counter()
    started_at = _now()
    where = spark or SparkSettings()
    opts = options or DriftOptions()
    cols = column_options or ColumnOptions()
    notes: list[str] = []
    if progress:
        progress("starting Spark" if engine is not None else f"starting Spark ({where.where})")
    with _engine(where, engine) as engine:
        session_start_s = time.perf_counter() - started
        profiling_started = time.perf_counter()
        current_source = engine.resolve(current)
        ref_path = Path(str(reference))
        ref_source: SparkSource | None = None
        reference_profile: DatasetProfile
        if is_profile_file(ref_path):
            reference_profile = load_profile(ref_path)
            ref_label = str(reference)
        else:
            ref_source = engine.resolve(reference)
            ref_label = ref_source.label
        cur_plan, cur_rows = engine.plan(current_source, cols, sketches=False)
        cols = _prediction_roles(cols, list(cur_plan.kinds))
        _check_rows(_as_data_source(current_source), cur_rows)
        if ref_source is not None:
            ref_plan, ref_rows = engine.plan(ref_source, cols)
            _check_rows(_as_data_source(ref_source), ref_rows)
            notes += ref_plan.notes
            if progress:
                progress("profiling the reference on Spark")
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
            progress("profiling the current data on Spark")
        current_profile = engine.build_profile(
            current_source,
            kinds,
            cur_plan.dtypes,
            reference=reference_profile,
            sketches=False,
            excluded=excluded,
            progress=progress,
        )
        spark_version = engine.spark.version
        engine_where = engine.where
        profiling_s = time.perf_counter() - profiling_started
    if opts.exact_ks:
        notes.append(KS_NOTE)
    comparison = compare_profiles(
        reference_profile,
        current_profile,
        options=opts,
        predictions=cols.predictions,
        targets=cols.targets,
        exact={},
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
    measurements = {
        **comparison.measurements,
        "engine": {
            "name": "spark",
            "spark_version": spark_version,
            "where": engine_where,
            "session_start_s": session_start_s,
            "profiling_s": profiling_s,
        },
    }
    return Report(
        tool="drift",
        findings=findings,
        notifications=(*notifications, *comparison.notifications),
        rules_run=tuple(r.code for r in RULES),
        inputs=(ref_label, current_source.label),
        tables=comparison.tables,
        plots=comparison.plots,
        measurements=measurements,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
    )
