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

from infermedic.drift.flow import drift_report, profile_pair
from infermedic.drift.options import DriftOptions
from infermedic.drift.profile import DatasetProfile
from infermedic.drift.sources import ColumnOptions, DataSource, FileFormat
from infermedic.drift.spark.profile import SparkEngine, profile_on_spark
from infermedic.drift.spark.session import SparkSettings, spark_session
from infermedic.drift.spark.sources import SparkSource
from infermedic.model import Report
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
    if progress:
        progress("starting Spark" if engine is not None else f"starting Spark ({where.where})")
    with _engine(where, engine) as engine:
        session_start_s = time.perf_counter() - started
        profiling_started = time.perf_counter()
        pair = profile_pair(
            engine, reference, current, column_options or ColumnOptions(), progress=progress
        )
        spark_version = engine.spark.version
        engine_where = engine.where
        profiling_s = time.perf_counter() - profiling_started
    if opts.exact_ks:
        pair.notes.append(KS_NOTE)
    return drift_report(
        pair,
        options=opts,
        exact={},
        settings=settings,
        started=started,
        started_at=started_at,
        measurements={
            "engine": {
                "name": "spark",
                "spark_version": spark_version,
                "where": engine_where,
                "session_start_s": session_start_s,
                "profiling_s": profiling_s,
            }
        },
    )
