"""The Spark engine: builds the same drift profiles as the DuckDB engine, with Spark aggregates.

Two passes over the data per profile, whatever the number of columns:

1. one global aggregate: rows, and per numeric column non-NULL and finite counts, min, max,
   mean, population variance and Spark's native DataSketches KLL sketch
   (`kll_sketch_agg_double`, whose bytes are the `kll_doubles_sketch` the DuckDB engine
   writes, so profiles from both engines merge);
2. one grouped count: every numeric value's bin on the reference's edges (Spark ML's
   `Bucketizer`, a binary search in the JVM, no Python workers) and every categorical value,
   exploded into `(column, bin, value)` rows and counted with map-side partial aggregation.

The reference's own edges come from its KLL sketch, as in the DuckDB engine, so a reference
profile needs pass 1 before pass 2; a current profile binned on given edges could skip the
sketch entirely (`sketches=False`).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasketches

from infermedic.drift.profile import (
    KLL_K,
    ColumnKind,
    DatasetProfile,
    categorical_column,
    kll_edges,
    numeric_column,
)
from infermedic.drift.sources import (
    ColumnOptions,
    ColumnPlan,
    physical_kind,
    plan_columns,
)
from infermedic.drift.spark.session import SparkSettings, quiet_pandas_warning, spark_session
from infermedic.drift.spark.sources import (
    SparkSource,
    duckdb_type_name,
    read_source,
    resolve_spark_source,
    spark_failure,
)
from infermedic.errors import EngineUnavailable, InfermedicError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

Progress = Callable[[str], None]
MAX_CATEGORIES = (
    1_000  # as the DuckDB engine: above this (and half the rows) a text column is id-like
)
_Edges = tuple[tuple[float, ...], tuple[float, ...]]
_NUMBER_TEXT = r"(?i)^\s*[-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|inf(inity)?|nan)\s*$"
_BIN_BITS = 20  # bin index bits in a bin-count key; KLL edges give at most ~1001 bins


@dataclass(frozen=True, kw_only=True)
class _NumericStats:
    non_null: int
    finite: int
    minimum: float | None
    maximum: float | None
    mean: float | None
    variance: float | None
    sketch: bytes | None
    unparsed: int = 0


class SparkEngine:
    """Profiles datasets on an open SparkSession; `open_spark_engine` owns the session."""

    # reads numbers out of text columns and counts the rest (without examples: no extra job)
    numbers_from_text = True

    name = "spark"

    def __init__(
        self,
        spark: SparkSession,
        *,
        where: str = "an existing Spark session",
        job_timeout_s: float | None = None,
    ) -> None:
        self.spark = spark
        self.where = where
        self.job_timeout_s = job_timeout_s
        self._frames: dict[SparkSource, DataFrame] = {}
        # numeric aggregates computed by `plan`: rows, per-column stats, with sketches or not
        self._numeric: dict[SparkSource, tuple[int, dict[str, _NumericStats], bool]] = {}

    # -- reading ---------------------------------------------------------------------------

    def resolve(self, spec: str | Path) -> SparkSource:
        return resolve_spark_source(spec)

    def frame(self, source: SparkSource) -> DataFrame:
        if source not in self._frames:
            # reading Parquet with mergeSchema already runs a job on the executors
            with self._deadline(source, "reading"):
                self._frames[source] = read_source(self.spark, source)
        return self._frames[source]

    def schema(self, source: SparkSource) -> list[tuple[str, str]]:
        frame = self.frame(source)
        try:
            fields = frame.schema.fields
        except Exception as exc:
            raise _job_error(source, "reading the schema of", exc) from exc
        return [(f.name, duckdb_type_name(f.dataType.simpleString())) for f in fields]

    @contextmanager
    def _deadline(self, source: SparkSource, what: str) -> Iterator[None]:
        """With `job_timeout_s`, cancel the jobs started in this block once it has run that
        long, and say so: Spark itself waits forever for executors that are gone."""
        if not self.job_timeout_s:
            yield
            return
        cancelled = threading.Event()

        def cancel() -> None:
            cancelled.set()
            _cancel_jobs(self.spark)

        timer = threading.Timer(self.job_timeout_s, cancel)
        timer.daemon = True
        timer.start()
        try:
            yield
        except Exception as exc:
            if cancelled.is_set():
                raise EngineUnavailable(
                    f"Spark did not finish {what} {source.label} within {self.job_timeout_s:g} s "
                    f"on {self.where}; the job was cancelled",
                    hint="executors may have been lost, or the cluster has no free cores for "
                    "this application (see the master's web UI); raise --spark-job-timeout "
                    "for larger data",
                ) from exc
            raise
        finally:
            timer.cancel()

    def _collect(self, source: SparkSource, what: str, frame: DataFrame) -> list[Any]:
        with self._deadline(source, what):
            try:
                return frame.collect()
            except Exception as exc:
                raise _job_error(source, what, exc) from exc

    def plan(
        self, source: SparkSource, options: ColumnOptions, *, sketches: bool = True
    ) -> tuple[ColumnPlan, int]:
        """Column kinds for `source` and its row count.

        The same job also aggregates every numeric column (counts, min, max, mean, variance
        and, with `sketches`, the KLL sketch) and keeps the result for `build_profile`: the
        kinds of numeric columns are known from the schema, so one scan serves both.
        """
        from pyspark.sql import functions as F

        schema = self.schema(source)
        text = [n for n, t in schema if physical_kind(t) is ColumnKind.CATEGORICAL]
        numeric = [n for n, t in schema if physical_kind(t) is ColumnKind.NUMERIC]
        aggregates: list[Column] = [F.count(F.lit(1))]
        for name in text:
            as_text = _col(name).cast("string")
            aggregates += [
                F.count(_col(name)),
                F.approx_count_distinct(as_text),
                # a regex, not try_cast: casting text that is not a number costs 6x more
                F.count_if(as_text.rlike(_NUMBER_TEXT)),
            ]
        aggregates += _numeric_aggregates(numeric, sketches)
        row = self._collect(source, "counting rows of", self.frame(source).agg(*aggregates))[0]
        rows = int(row[0])
        stats = {
            name: (int(row[1 + 3 * i]), int(row[2 + 3 * i]), int(row[3 + 3 * i]))
            for i, name in enumerate(text)
        }
        numeric_stats = _numeric_stats(row[1 + 3 * len(text) :], numeric, sketches)
        self._numeric[source] = (rows, numeric_stats, sketches)
        plan = plan_columns(schema, options, stats, rows, max_categories=MAX_CATEGORIES)
        return plan, rows

    # -- profiles --------------------------------------------------------------------------

    def build_profile(
        self,
        source: SparkSource,
        kinds: Mapping[str, ColumnKind],
        dtypes: Mapping[str, str],
        *,
        reference: DatasetProfile | None = None,
        sketches: bool = True,
        excluded: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> DatasetProfile:
        """Profile `source` as `kinds` say; the same contract as `DuckDBEngine.build_profile`.

        With `reference`, numeric columns are binned on the reference's edges (a current
        profile that merges exactly with others binned the same way); without it, on this
        data's own KLL quantiles (a reference profile).
        """
        numeric = [n for n, k in kinds.items() if k is ColumnKind.NUMERIC]
        categorical = [n for n, k in kinds.items() if k is ColumnKind.CATEGORICAL]
        edges: dict[str, _Edges | None] = dict.fromkeys(numeric)
        if reference is not None:
            for name in numeric:
                ref_col = reference.column(name)
                if ref_col is not None and ref_col.numeric is not None and ref_col.numeric.binning:
                    edges[name] = (ref_col.numeric.binning.edges, ref_col.numeric.binning.psi_edges)
        with_sketch = sketches or reference is None
        if progress:
            progress(f"aggregating {len(numeric)} numeric columns of {source.label} on Spark")
        rows, numeric_stats = self._numeric_pass(source, numeric, with_sketch)
        if reference is None:
            for name in numeric:
                raw = numeric_stats[name].sketch
                if raw is not None:
                    sketch = datasketches.kll_doubles_sketch.deserialize(raw)
                    edges[name] = kll_edges(sketch, sketch.get_min_value(), sketch.get_max_value())
        if progress:
            progress(f"counting bins and categories of {source.label} on Spark")
        histograms, category_counts = self._count_pass(source, numeric, edges, categorical)
        columns = [
            numeric_column(
                name=name,
                dtype=dtypes[name],
                rows=rows,
                non_null=numeric_stats[name].non_null,
                finite=numeric_stats[name].finite,
                minimum=numeric_stats[name].minimum,
                maximum=numeric_stats[name].maximum,
                mean=numeric_stats[name].mean,
                variance=numeric_stats[name].variance,
                sketch=numeric_stats[name].sketch,
                edges=edges[name],
                counts=histograms.get(name),
                unparsed=numeric_stats[name].unparsed,
            )
            if kind is ColumnKind.NUMERIC
            else categorical_column(
                name=name, dtype=dtypes[name], rows=rows, counts=category_counts[name]
            )
            for name, kind in kinds.items()
        ]
        return DatasetProfile(
            sources=(source.label,),
            rows=rows,
            columns=tuple(columns),
            engine=self.name,
            excluded=dict(excluded or {}),
        )

    def _numeric_pass(
        self, source: SparkSource, numeric: Sequence[str], with_sketch: bool
    ) -> tuple[int, dict[str, _NumericStats]]:
        cached = self._numeric.get(source)
        if cached is not None:
            rows, stats, has_sketch = cached
            if (has_sketch or not with_sketch) and all(n in stats for n in numeric):
                return rows, stats
        from pyspark.sql import functions as F

        aggregates = [F.count(F.lit(1)), *_numeric_aggregates(numeric, with_sketch)]
        row = self._collect(source, "aggregating", self.frame(source).agg(*aggregates))[0]
        return int(row[0]), _numeric_stats(row[1:], numeric, with_sketch)

    def _count_pass(
        self,
        source: SparkSource,
        numeric: Sequence[str],
        edges: Mapping[str, _Edges | None],
        categorical: Sequence[str],
    ) -> tuple[dict[str, tuple[int, ...]], dict[str, dict[str | None, int]]]:
        """Exact counts per reference bin and per category (one grouped job each)."""
        binned = [n for n in numeric if edges.get(n) is not None]
        histograms = self._bin_pass(source, binned, edges) if binned else {}
        categories = self._category_pass(source, categorical) if categorical else {}
        return histograms, categories

    def _bin_pass(
        self, source: SparkSource, binned: Sequence[str], edges: Mapping[str, _Edges | None]
    ) -> dict[str, tuple[int, ...]]:
        from pyspark.ml.feature import Bucketizer
        from pyspark.sql import functions as F

        bin_edges = [e[0] for n in binned if (e := edges[n]) is not None]
        # Bins are right-closed, (a, b]; Bucketizer's are left-closed, [a, b). On negated
        # values and negated, reversed edges they coincide: x in (a, b] <=> -x in [-b, -a).
        # `0.0 - x` (not `-x`) so that a zero is never -0.0, which Java's binary search
        # orders below 0.0.
        frame = self.frame(source).select(
            *[(F.lit(0.0) - _finite(n)).alias(f"n{i}") for i, n in enumerate(binned)]
        )
        bucketizer = Bucketizer(
            inputCols=[f"n{i}" for i in range(len(binned))],
            outputCols=[f"b{i}" for i in range(len(binned))],
            splitsArray=[
                [float("-inf"), *(0.0 - v for v in reversed(e)), float("inf")] for e in bin_edges
            ],
            handleInvalid="keep",
        )
        with quiet_pandas_warning():  # pyspark.ml on Connect imports its pandas check
            frame = bucketizer.transform(frame)
        # One long key per value, column index in the high bits: grouping on a single long
        # is twice as fast as on a (column, bin) struct. NULL (missing) is dropped; pass 1
        # counted it.
        keys = [
            (F.lit(i << _BIN_BITS) + F.col(f"b{i}").cast("long")).alias("k")
            for i in range(len(binned))
        ]
        counted = (
            frame.select(F.explode(F.array(*keys)).alias("k"))
            .where(F.col("k").isNotNull())
            .groupBy("k")
            .count()
        )
        histograms = [[0] * (len(e) + 1) for e in bin_edges]
        for row in self._collect(source, "counting bins of", counted):
            key, n = int(row[0]), int(row[1])
            index, bucket = key >> _BIN_BITS, key & ((1 << _BIN_BITS) - 1)
            histograms[index][len(bin_edges[index]) - bucket] += n
        return {name: tuple(h) for name, h in zip(binned, histograms, strict=True)}

    def _category_pass(
        self, source: SparkSource, categorical: Sequence[str]
    ) -> dict[str, dict[str | None, int]]:
        from pyspark.sql import functions as F

        items = [
            F.struct(F.lit(j).alias("c"), _col(n).cast("string").alias("s"))
            for j, n in enumerate(categorical)
        ]
        counted = (
            self.frame(source)
            .select(F.explode(F.array(*items)).alias("e"))
            .groupBy(F.col("e.c").alias("c"), F.col("e.s").alias("s"))
            .count()
        )
        categories: dict[str, dict[str | None, int]] = {n: {} for n in categorical}
        for row in self._collect(source, "counting categories of", counted):
            categories[categorical[int(row[0])]][row[1]] = int(row[2])
        return categories


def _cancel_jobs(spark: SparkSession) -> None:
    """Cancel the session's running jobs (Spark Connect and classic sessions differ)."""
    try:
        if type(spark).__module__.startswith("pyspark.sql.connect"):
            spark.interruptAll()
        else:
            spark.sparkContext.cancelAllJobs()
    except Exception:  # best effort from a timer thread; the job's own error follows
        pass


def _numeric_aggregates(numeric: Sequence[str], with_sketch: bool) -> list[Column]:
    from pyspark.sql import functions as F

    aggregates: list[Column] = []
    for name in numeric:
        finite = _finite(name)
        aggregates += [
            F.count(_col(name)),
            F.count(finite),
            F.min(finite),
            F.max(finite),
            F.avg(finite),
            F.var_pop(finite),
            # present, not blank, and not a number: text in a column read as numbers
            F.count_if(
                _col(name).isNotNull()
                & (F.trim(_col(name).cast("string")) != F.lit(""))
                & _col(name).try_cast("double").isNull()
            ),
        ]
        if with_sketch:
            aggregates.append(F.kll_sketch_agg_double(finite, F.lit(KLL_K)))
    return aggregates


def _numeric_stats(
    values: Sequence[Any], numeric: Sequence[str], with_sketch: bool
) -> dict[str, _NumericStats]:
    """`_numeric_aggregates`' results, column by column."""
    width = 8 if with_sketch else 7
    stats: dict[str, _NumericStats] = {}
    for i, name in enumerate(numeric):
        part = values[width * i : width * (i + 1)]
        non_null, finite_count, lo, hi, mean, variance, unparsed = part[:7]
        raw = part[7] if with_sketch else None
        stats[name] = _NumericStats(
            non_null=int(non_null),
            finite=int(finite_count),
            minimum=None if lo is None else float(lo),
            maximum=None if hi is None else float(hi),
            mean=None if mean is None else float(mean),
            variance=None if variance is None else float(variance),
            sketch=bytes(raw) if raw is not None and int(finite_count) > 0 else None,
            unparsed=int(unparsed),
        )
    return stats


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _finite(name: str) -> Column:
    """The column as DOUBLE with NaN and +-inf turned into NULL (they count as missing)."""
    from pyspark.sql import functions as F

    value = _col(name).try_cast("double")
    return F.when(~F.isnan(value) & (F.abs(value) != F.lit(float("inf"))), value)


def _job_error(source: SparkSource, what: str, exc: BaseException) -> InfermedicError:
    return spark_failure(source.label, what, exc)


@contextmanager
def open_spark_engine(settings: SparkSettings | None = None) -> Iterator[SparkEngine]:
    """A `SparkEngine` on a fresh session, stopped when the block ends."""
    settings = settings or SparkSettings()
    with spark_session(settings) as spark:
        yield SparkEngine(spark, where=settings.where, job_timeout_s=settings.job_timeout_s)


def profile_on_spark(
    data: str | Path,
    *,
    engine: SparkEngine,
    column_options: ColumnOptions | None = None,
    reference: DatasetProfile | None = None,
    progress: Progress | None = None,
) -> tuple[DatasetProfile, tuple[str, ...]]:
    """Profile `data` on Spark, as `infermedic.drift.profile_dataset` does with DuckDB.

    With `reference`, numeric columns are binned on its edges and kinds follow it (a current
    profile that merges exactly with others made the same way). Returns the profile and
    notes worth a notification.
    """
    from infermedic.drift.flow import check_rows, kinds_like_reference

    source = engine.resolve(data)
    plan, rows = engine.plan(source, column_options or ColumnOptions())
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
            numbers_from_text=engine.numbers_from_text,
        )
    profile = engine.build_profile(
        source, kinds, plan.dtypes, reference=reference, excluded=excluded, progress=progress
    )
    return replace(
        profile, created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    ), plan.notes
