"""The single-machine engine: drift profiles and exact two-sample tests, out of core.

Plain numeric and text columns of Parquet files go through `columnar` (pyarrow reads one
column at a time, numpy sorts its finite values once; counts, moments, exact quantile edges,
bin counts and the exact KS/Wasserstein of a pair all come from the sorted values, on two
threads). Everything else is SQL over the files (histograms on the reference edges, counts,
moments, category counts with GROUPING SETS, exact KS/Wasserstein from a merged ECDF), with
the KLL sketch fed from Arrow record batches streamed out of DuckDB (bounded memory).

DuckDB itself is imported and connected on first use (its import and connection cost ~0.3 s
of CPU): plain Parquet files whose columns all go through `columnar` never need it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa

from infermedic.drift.columnar import (
    NumericStats,
    ParquetColumns,
    SortedColumn,
    ks_wasserstein,
)
from infermedic.drift.profile import (
    CATEGORY_CAP,
    KLL_K,
    UNPARSED_EXAMPLES,
    ColumnKind,
    DatasetProfile,
    categorical_column,
    kll_edges,
    numeric_column,
    quantile_edges,
    reference_edges,
)
from infermedic.drift.sources import (
    ColumnOptions,
    ColumnPlan,
    DataSource,
    FileFormat,
    is_text,
    physical_kind,
    plan_columns,
    quote_ident,
    resolve_source,
)
from infermedic.errors import DatasetError

if TYPE_CHECKING:
    import duckdb

Progress = Callable[[str], None]
_T = TypeVar("_T")
BATCH_ROWS = 131_072
MAX_CATEGORIES = 1_000  # above this many distinct strings (and half the rows) a column is id-like
# Columns profiled at once (pyarrow reads and numpy sorts release the GIL): one per core this
# process may use, affinity and cgroup quota counted, and at most this many, since each holds
# a column's values (8 bytes a row, twice while it is read and sorted). Measured at 10M
# current rows against a saved profile: peak RSS 530-600 MB with 2 threads, 830-980 MB with 4.
MAX_COLUMN_THREADS = 2
# Sorted reference columns kept for the exact tests of the current pass, in values (8 bytes
# each); beyond this the reference column is read and sorted again when it is needed.
HELD_VALUES = 24_000_000


@dataclass(frozen=True, kw_only=True)
class ExactNumeric:
    """Exact two-sample KS statistic and 1-Wasserstein distance over all finite values."""

    ks_statistic: float
    wasserstein: float
    n_reference: int
    n_current: int


class DuckDBEngine:
    """One DuckDB connection with a spill directory; use as a context manager."""

    name = "duckdb"
    numbers_from_text = True  # reads numbers out of text columns and counts the rest

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        exact_max_rows: int = 0,
    ) -> None:
        """`exact_max_rows`: when a current profile is built against a reference profiled by
        this engine, and both together have at most this many rows, the exact KS statistic
        and Wasserstein distance of each columnar numeric column are computed while its
        sorted values are at hand (`exact_numeric` then returns them); 0 never does."""
        self._threads, self._memory_limit = threads, memory_limit
        self._spill: str | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._sample_all: set[DataSource] = set()  # CSV/JSON typed from all rows, not a sample
        self._exact_max_rows = exact_max_rows
        self._columnar: dict[DataSource, ParquetColumns | None] = {}
        # text columns' value counts, from the plan's pass
        self._value_counts: dict[tuple[DataSource, str], dict[str | None, int]] = {}
        # sorted reference columns (and the profile they belong to) for the exact tests
        self._held: dict[str, SortedColumn] = {}
        self._held_for: tuple[DatasetProfile, DataSource] | None = None
        self._exact: dict[tuple[DataSource, DataSource, str], ExactNumeric] = {}

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, opened on first use."""
        if self._con is None:
            import tempfile  # (with shutil, ~5 ms of imports a Parquet-only run never needs)

            duckdb = _duckdb()
            self._spill = tempfile.mkdtemp(prefix="infermedic-duckdb-")
            con = duckdb.connect(":memory:")
            # Spilling needs a directory; insertion order is never needed and costs memory; a
            # progress bar would be written into the caller's stdout (a JSON report).
            con.execute(f"SET temp_directory = '{self._spill}'")
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            if self._threads is not None:
                con.execute(f"SET threads = {int(self._threads)}")
            if self._memory_limit is not None:
                con.execute(f"SET memory_limit = '{self._memory_limit}'")
            self._con = con
        return self._con

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._held.clear()
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._spill is not None:
            import shutil

            shutil.rmtree(self._spill, ignore_errors=True)

    def _columns(self, source: DataSource) -> ParquetColumns | None:
        """The pyarrow reader of `source`'s columns (None when it is not Parquet)."""
        if source not in self._columnar:
            self._columnar[source] = ParquetColumns.open(source)
        return self._columnar[source]

    # -- reading ---------------------------------------------------------------------------

    def _table(self, source: DataSource) -> str:
        return source.table_sql(sample_all=source in self._sample_all)

    def _query(self, source: DataSource, sql: str) -> list[tuple[object, ...]]:
        try:
            return self.con.execute(sql).fetchall()
        except _duckdb().Error as exc:
            if _sampled_type_failed(exc) and source.file_format is not FileFormat.PARQUET:
                if source in self._sample_all:
                    raise _dataset_error(source, exc) from exc
                error = _dataset_error(source, exc)
                raise _SampledTypeError(str(error), hint=error.hint) from exc
            raise _dataset_error(source, exc) from exc

    def schema(self, source: DataSource) -> list[tuple[str, str]]:
        columns = self._columns(source)
        described = None if columns is None else columns.duckdb_schema()
        if described is not None:
            return described  # plain Parquet: the footers say what DuckDB would
        rows = self._query(source, f"DESCRIBE SELECT * FROM {self._table(source)}")
        return [(str(r[0]), str(r[1])) for r in rows]

    def resolve(self, spec: str | Path) -> DataSource:
        return resolve_source(spec)

    def plan(
        self, source: DataSource, options: ColumnOptions, *, sketches: bool = True
    ) -> tuple[ColumnPlan, int]:
        """Column kinds for `source` and its row count, from one cheap pass over text columns.

        A CSV or JSON column typed from the first rows can meet a value further in that does
        not fit (`n/a` in row 40,000 of numbers): then the file is typed again from all its
        rows, so the column is read as text and the change measured, not a read error.

        `sketches` is part of the engine contract (Spark sketches while it plans); DuckDB
        builds its sketches with the profile, so it has nothing to skip here."""
        try:
            return self._plan(source, options)
        except _SampledTypeError:
            self._sample_all.add(source)
            return self._plan(source, options)

    def _plan(self, source: DataSource, options: ColumnOptions) -> tuple[ColumnPlan, int]:
        schema = self.schema(source)
        types = dict(schema)
        text = [n for n, t in schema if physical_kind(t) is ColumnKind.CATEGORICAL]
        columns = self._columns(source)
        if columns is None:
            rows, stats = self._text_stats(source, schema, text)
        else:
            rows, stats = columns.rows, {}
            for name in text:
                # One column at a time, not on the column threads: an id-like column's counts
                # are a Python dict of every distinct value (~1.5 GB at 10M rows), and two at
                # once would double the peak for ~0.15 s at 10M rows (measured).
                if _columnar_text(columns, name, types[name]):
                    counts = columns.value_counts(name)
                    stats[name] = self._columnar_text_stats(source, name, counts)
            rest = [n for n in text if n not in stats]
            if rest:
                stats.update(self._text_stats(source, [(n, types[n]) for n in rest], rest)[1])
        plan = plan_columns(schema, options, stats, rows, max_categories=MAX_CATEGORIES)
        return plan, rows

    def _columnar_text_stats(
        self, source: DataSource, name: str, counts: dict[str | None, int]
    ) -> tuple[int, int, int]:
        """(non-null, distinct, castable to a number) of a text column from its value counts
        (kept for the profile's category counts). Only values `_MAYBE_NUMBER` matches can be
        numbers: DuckDB's own TRY_CAST judges those, once per distinct value."""
        if len(counts) <= CATEGORY_CAP:
            self._value_counts[(source, name)] = counts
        present = {v: n for v, n in counts.items() if v is not None}
        candidates = {v: n for v, n in present.items() if _MAYBE_NUMBER.search(v)}
        castable = 0
        if candidates:
            table = pa.table({"v": list(candidates), "n": list(candidates.values())})
            self.con.register("infermedic_value_counts", table)
            try:
                row = self.con.execute(
                    "SELECT coalesce(sum(n) FILTER (WHERE TRY_CAST(v AS DOUBLE) IS NOT NULL), 0) "
                    "FROM infermedic_value_counts"
                ).fetchall()[0]
            finally:
                self.con.unregister("infermedic_value_counts")
            castable = int(row[0])
        return sum(present.values()), len(present), castable

    def _text_stats(
        self, source: DataSource, schema: Sequence[tuple[str, str]], text: Sequence[str]
    ) -> tuple[int, dict[str, tuple[int, int, int]]]:
        """Rows, and (non-null, approximate distinct, castable to a number) per text column,
        from one SQL pass."""
        # count(*) alone would not read (and so not convert) the typed columns of a JSON file
        parts = ["count(*)", *(f"count({quote_ident(n)})" for n, _ in schema if n not in text)]
        skip = len(parts)
        types = dict(schema)
        for name in text:
            t = _text(name, types[name])
            parts += [
                f"count({quote_ident(name)})",
                f"approx_count_distinct({t})",
                f"count(TRY_CAST({t} AS DOUBLE))",
            ]
        row = self._query(source, f"SELECT {', '.join(parts)} FROM {self._table(source)}")[0]
        rows = int(row[0])  # type: ignore[call-overload]
        stats = {
            name: tuple(int(v) for v in row[skip + 3 * i : skip + 3 + 3 * i])  # type: ignore[call-overload]
            for i, name in enumerate(text)
        }
        return rows, {k: (v[0], v[1], v[2]) for k, v in stats.items()}

    # -- profiles --------------------------------------------------------------------------

    def build_profile(
        self,
        source: DataSource,
        kinds: Mapping[str, ColumnKind],
        dtypes: Mapping[str, str],
        *,
        reference: DatasetProfile | None = None,
        sketches: bool = True,
        excluded: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> DatasetProfile:
        """Profile `source`'s columns as `kinds` say.

        With `reference`, numeric columns are binned on the reference's edges (a current
        profile); without it, on this data's own KLL quantiles (a reference profile), which
        takes one extra streamed pass. `sketches=False` skips the KLL pass where no one will
        read the sketch (a current batch compared right away).
        """
        numeric = [n for n, k in kinds.items() if k is ColumnKind.NUMERIC]
        categorical = [n for n, k in kinds.items() if k is ColumnKind.CATEGORICAL]
        kll: dict[str, bytes | None] = dict.fromkeys(numeric)
        edges: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = dict.fromkeys(
            numeric
        )
        if reference is not None:
            for name in numeric:
                ref_col = reference.column(name)
                edges[name] = None if ref_col is None else reference_edges(ref_col)
        columns = self._columns(source)
        fast = (
            [n for n in numeric if _columnar_number(columns, n, dtypes[n])]
            if columns is not None
            else []
        )
        sql_numeric = [n for n in numeric if n not in fast]
        if sql_numeric and (sketches or reference is None):
            if progress:
                progress(f"sketching {len(sql_numeric)} numeric columns of {source.label}")
            built = self._kll_pass(source, sql_numeric, dtypes)
            for name, sketch in built.items():
                kll[name] = None if sketch is None else bytes(sketch.serialize())
                if reference is None and sketch is not None:
                    edges[name] = kll_edges(sketch, sketch.get_min_value(), sketch.get_max_value())
        if progress:
            progress(f"counting {source.label}")
        numeric_stats: dict[str, NumericStats] = {}
        if columns is None or sql_numeric:
            rows, numeric_stats = self._numeric_pass(source, sql_numeric, edges, dtypes)
        else:
            rows = columns.rows
        held: dict[str, SortedColumn] = {}
        if fast and columns is not None:
            fast_kll, fast_edges, fast_stats, held = self._columnar_numeric(
                source, columns, fast, reference, edges, sketches=sketches
            )
            kll.update(fast_kll)
            edges.update(fast_edges)
            numeric_stats.update(fast_stats)
        examples = {
            name: self._unparsed_examples(source, name, dtypes[name])
            for name in sql_numeric
            if numeric_stats[name].unparsed > 0
        }
        category_counts = self._category_counts(source, columns, categorical, dtypes)
        profiled = [
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
                sketch=kll[name],
                edges=edges[name],
                counts=numeric_stats[name].histogram,
                unparsed=numeric_stats[name].unparsed,
                unparsed_examples=examples.get(name),
            )
            if kind is ColumnKind.NUMERIC
            else categorical_column(
                name=name, dtype=dtypes[name], rows=rows, counts=category_counts[name]
            )
            for name, kind in kinds.items()
        ]
        profile = DatasetProfile(
            sources=(source.label,),
            rows=rows,
            columns=tuple(profiled),
            engine=self.name,
            excluded=dict(excluded or {}),
        )
        if reference is None:
            self._held, self._held_for = held, (profile, source)
        return profile

    def _columnar_numeric(
        self,
        source: DataSource,
        columns: ParquetColumns,
        names: Sequence[str],
        reference: DatasetProfile | None,
        edges: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]] | None],
        *,
        sketches: bool,
    ) -> tuple[
        dict[str, bytes | None],
        dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None],
        dict[str, NumericStats],
        dict[str, SortedColumn],
    ]:
        """Profile numeric Parquet columns from their sorted values, a column per usable core
        (up to `MAX_COLUMN_THREADS`).

        A reference keeps its sorted columns (up to `HELD_VALUES`) when exact tests will
        follow; a current profile against that reference then computes them column by
        column, releasing each reference column as it goes."""
        pair: tuple[DatasetProfile, DataSource] | None = None
        if reference is None:
            self._held, self._held_for = {}, None
        elif (
            self._held_for is not None
            and self._held_for[0] is reference
            and reference.rows + columns.rows <= self._exact_max_rows
        ):
            pair = self._held_for
        keep = reference is None and self._exact_max_rows > columns.rows
        budget = [HELD_VALUES]
        budget_lock = threading.Lock()  # the check and the take, as one step across threads

        def one(name: str) -> tuple[str, Any]:
            column = columns.sorted_numbers(name)
            if reference is None:
                cut = quantile_edges(column.values) if column.values.size else None
            else:
                cut = edges.get(name)
            # the values serve nothing after the stats unless a sketch, an exact test or the
            # held reference reads them
            consume = not (sketches or pair is not None or keep)
            stats = column.stats(None if cut is None else cut[0], consume=consume)
            sketch = None
            if sketches and column.values.size:
                import datasketches  # only where a sketch is written (a saved profile)

                kll = datasketches.kll_doubles_sketch(KLL_K)
                kll.update(column.values)
                sketch = bytes(kll.serialize())
            if pair is not None and column.values.size:
                self._exact_pair(pair, source, name, column)
            kept = None
            if keep:
                with budget_lock:
                    if column.values.size <= budget[0]:
                        budget[0] -= column.values.size
                        kept = column
            return name, (sketch, cut, stats, kept)

        done = dict(_map_columns(one, names))
        return (
            {n: v[0] for n, v in done.items()},
            {n: v[1] for n, v in done.items()},
            {n: v[2] for n, v in done.items()},
            {n: v[3] for n, v in done.items() if v[3] is not None},
        )

    def _exact_pair(
        self,
        pair: tuple[DatasetProfile, DataSource],
        current: DataSource,
        name: str,
        column: SortedColumn,
    ) -> None:
        """Exact KS and Wasserstein of one column against the held (or re-read) reference."""
        reference, source = pair
        ref_col = reference.column(name)
        held = self._held.pop(name, None)
        if held is None:
            ref_columns = self._columns(source)
            if (
                ref_col is None
                or ref_columns is None
                or not _columnar_number(ref_columns, name, ref_col.dtype)
            ):
                return  # exact_numeric runs its SQL for this column
            held = ref_columns.sorted_numbers(name)
        if held.values.size == 0:
            return
        d, w = ks_wasserstein(held.values, column.values)
        self._exact[(source, current, name)] = ExactNumeric(
            ks_statistic=d,
            wasserstein=w,
            n_reference=int(held.values.size),
            n_current=int(column.values.size),
        )

    def _category_counts(
        self,
        source: DataSource,
        columns: ParquetColumns | None,
        categorical: Sequence[str],
        dtypes: Mapping[str, str],
    ) -> dict[str, dict[str | None, int]]:
        fast = (
            [n for n in categorical if _columnar_text(columns, n, dtypes[n])]
            if columns is not None
            else []
        )
        out = self._categorical_pass(source, [n for n in categorical if n not in fast], dtypes)
        for name in fast:
            assert columns is not None
            counts = self._value_counts.pop((source, name), None)
            out[name] = columns.value_counts(name) if counts is None else counts
        return out

    def _kll_pass(
        self, source: DataSource, numeric: Sequence[str], dtypes: Mapping[str, str]
    ) -> dict[str, Any]:
        import datasketches

        exprs = ", ".join(_finite(n, dtypes.get(n)) for n in numeric)
        sketches = {n: datasketches.kll_doubles_sketch(KLL_K) for n in numeric}
        try:
            reader = self.con.sql(f"SELECT {exprs} FROM {self._table(source)}").to_arrow_reader(
                BATCH_ROWS
            )
            for batch in reader:
                for i, name in enumerate(numeric):
                    values = batch.column(i).to_numpy(zero_copy_only=False)
                    values = values[~np.isnan(values)]
                    if values.size:
                        sketches[name].update(values)
        except _duckdb().Error as exc:
            raise _dataset_error(source, exc) from exc
        return {n: (None if s.is_empty() else s) for n, s in sketches.items()}

    def _numeric_pass(
        self,
        source: DataSource,
        numeric: Sequence[str],
        edges: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]] | None],
        dtypes: Mapping[str, str],
    ) -> tuple[int, dict[str, NumericStats]]:
        parts = ["count(*)"]
        inner = ["1 AS one"]
        for i, name in enumerate(numeric):
            q, f = f"r{i}", f"f{i}"
            dtype = dtypes.get(name)
            # project once, aggregate many times: DuckDB does not share the CASE across aggregates
            present = (
                f"{_number_text(name, dtype)} IS NOT NULL"
                if dtype is not None and is_text(dtype)
                else f"{quote_ident(name)} IS NOT NULL"
            )
            inner += [f"{present} AS r{i}", f"{_finite(name, dtype)} AS f{i}"]
            text = dtype is not None and is_text(dtype)
            if text:
                inner.append(f"TRY_CAST({_number_text(name, dtype)} AS DOUBLE) IS NULL AS u{i}")
            unparsed_sql = f"count_if({q} AND u{i})" if text else "0"
            parts += [
                f"count_if({q})",
                f"count({f})",
                f"min({f})",
                f"max({f})",
                f"avg({f})",
                f"var_pop({f})",
                unparsed_sql,
            ]
            e = edges.get(name)
            parts.append(
                "NULL"
                if e is None
                else f"histogram({f}, [{', '.join(repr(v) for v in e[0])}]::DOUBLE[])"
            )
        sql = (
            f"SELECT {', '.join(parts)} FROM (SELECT {', '.join(inner)} FROM {self._table(source)})"
        )
        row = self._query(source, sql)[0]
        rows = int(row[0])  # type: ignore[call-overload]
        stats: dict[str, NumericStats] = {}
        for i, name in enumerate(numeric):
            non_null, finite, lo, hi, mean, var, unparsed, hist = row[1 + 8 * i : 9 + 8 * i]
            e = edges.get(name)
            histogram = None
            if e is not None:
                histogram = _align_histogram(hist, e[0])  # type: ignore[arg-type]
            stats[name] = NumericStats(
                non_null=int(non_null),  # type: ignore[call-overload]
                finite=int(finite),  # type: ignore[call-overload]
                minimum=None if lo is None else float(lo),  # type: ignore[arg-type]
                maximum=None if hi is None else float(hi),  # type: ignore[arg-type]
                mean=None if mean is None else float(mean),  # type: ignore[arg-type]
                # var_pop can come out a hair below zero on constant data (rounding)
                variance=None if var is None else max(0.0, float(var)),  # type: ignore[arg-type]
                histogram=histogram,
                unparsed=int(unparsed),  # type: ignore[call-overload]
            )
        return rows, stats

    def _unparsed_examples(self, source: DataSource, name: str, dtype: str) -> dict[str, int]:
        """The most frequent values of a text column read as numbers that are not numbers."""
        t = _number_text(name, dtype)
        sql = (
            f"SELECT v, count(*) AS n FROM (SELECT {t} AS v FROM {self._table(source)}) "
            f"WHERE v IS NOT NULL AND TRY_CAST(v AS DOUBLE) IS NULL "
            f"GROUP BY v ORDER BY n DESC, v LIMIT {UNPARSED_EXAMPLES}"
        )
        return {str(v): int(n) for v, n in self._query(source, sql)}  # type: ignore[call-overload]

    def _categorical_pass(
        self, source: DataSource, categorical: Sequence[str], dtypes: Mapping[str, str]
    ) -> dict[str, dict[str | None, int]]:
        out: dict[str, dict[str | None, int]] = {n: {} for n in categorical}
        if not categorical:
            return out
        cols = [f"{_text(n, dtypes.get(n))} AS c{i}" for i, n in enumerate(categorical)]
        flags = ", ".join(f"GROUPING(c{i})" for i in range(len(categorical)))
        names = ", ".join(f"c{i}" for i in range(len(categorical)))
        sets = ", ".join(f"(c{i})" for i in range(len(categorical)))
        sql = (
            f"SELECT {flags}, {names}, count(*) FROM (SELECT {', '.join(cols)} FROM "
            f"{self._table(source)}) GROUP BY GROUPING SETS ({sets})"
        )
        k = len(categorical)
        for row in self._query(source, sql):
            index = next(i for i in range(k) if row[i] == 0)
            value = row[k + index]
            out[categorical[index]][None if value is None else str(value)] = int(row[-1])  # type: ignore[call-overload]
        return out

    # -- exact tests -----------------------------------------------------------------------

    def exact_numeric(
        self,
        reference: DataSource,
        current: DataSource,
        column: str,
        n_reference: int,
        n_current: int,
        *,
        few_distinct: bool = False,
        reference_dtype: str | None = None,
        current_dtype: str | None = None,
    ) -> ExactNumeric:
        """Exact KS D and Wasserstein distance from the merged ECDF of both samples, in SQL.

        Both ECDFs are evaluated after each distinct value, so ties are handled as scipy
        does; the Wasserstein integral sums |F_r - F_c| times the gap to the next distinct
        value. `few_distinct` (the reference's quantile edges collapsed) groups values first,
        which is much faster on tied data and slower on continuous data.
        """
        done = self._exact.pop((reference, current, column), None)
        if done is not None and (done.n_reference, done.n_current) == (n_reference, n_current):
            return done
        ref_columns, cur_columns = self._columns(reference), self._columns(current)
        if (
            ref_columns is not None
            and cur_columns is not None
            and _columnar_number(ref_columns, column, reference_dtype)
            and _columnar_number(cur_columns, column, current_dtype)
        ):
            a = ref_columns.sorted_numbers(column).values
            b = cur_columns.sorted_numbers(column).values
            d, w = ks_wasserstein(a, b)
            return ExactNumeric(
                ks_statistic=0.0 if np.isnan(d) else d,
                wasserstein=0.0 if np.isnan(w) else w,
                n_reference=n_reference,
                n_current=n_current,
            )
        f_ref, f_cur = _finite(column, reference_dtype), _finite(column, current_dtype)
        n_r, n_c = repr(float(n_reference)), repr(float(n_current))
        union = f"""
            WITH u AS (
                SELECT {f_ref} AS v, 1 AS r FROM {self._table(reference)}
                UNION ALL SELECT {f_cur} AS v, 0 AS r FROM {self._table(current)}
            )"""
        if few_distinct:
            # Heavily tied data: collapse to distinct values first, then a running sum.
            sql = f"""{union},
            g AS (
                SELECT v, sum(r) AS cr, count(*) - sum(r) AS cc FROM u
                WHERE v IS NOT NULL GROUP BY v
            ),
            e AS (
                SELECT sum(cr) OVER w / {n_r} - sum(cc) OVER w / {n_c} AS gap,
                       lead(v) OVER w - v AS dv
                FROM g WINDOW w AS (ORDER BY v ROWS UNBOUNDED PRECEDING)
            )
            SELECT max(abs(gap)), sum(abs(gap) * dv) FROM e"""
        else:
            # Mostly distinct values: one sort. The default RANGE frame includes a value's
            # ties, so every tied row sees the ECDFs after the tie; only the last tied row
            # has a non-zero gap to the next value, so the Wasserstein sum is unchanged.
            sql = f"""{union},
            e AS (
                SELECT sum(r) OVER w / {n_r} - (count(*) OVER w - sum(r) OVER w) / {n_c} AS gap,
                       lead(v) OVER (ORDER BY v) - v AS dv
                FROM u WHERE v IS NOT NULL WINDOW w AS (ORDER BY v)
            )
            SELECT max(abs(gap)), sum(abs(gap) * dv) FROM e"""
        try:
            row = self.con.execute(sql).fetchone()
        except _duckdb().Error as exc:
            raise _dataset_error(current, exc) from exc
        assert row is not None
        return ExactNumeric(
            ks_statistic=float(row[0] or 0.0),
            wasserstein=float(row[1] or 0.0),
            n_reference=n_reference,
            n_current=n_current,
        )


def _duckdb() -> ModuleType:
    """The duckdb module, imported where it is first needed (~0.2 s of CPU)."""
    import duckdb

    return duckdb


# Text DuckDB may read as a double: digits with signs, points, exponents, `_` separators and
# surrounding space, or anything naming inf/infinity/nan. Text with any other character
# (`c0`, `1,5`, `0x10`) is not a number to its TRY_CAST (a test checks tricky values).
_MAYBE_NUMBER = re.compile(r"\A[\s+\-._eE]*[0-9][\s0-9+\-._eE]*\Z|inf|nan", re.IGNORECASE)


def _sampled_type_failed(exc: duckdb.Error) -> bool:
    """A CSV value that does not convert to its column's type, or a JSON one that fails to
    cast: the type came from a sample of the rows."""
    duckdb = _duckdb()
    text = str(exc)
    return isinstance(exc, duckdb.ConversionException) or (
        isinstance(exc, duckdb.InvalidInputException)
        and ("Failed to cast" in text or "Could not convert" in text)
    )


class _SampledTypeError(DatasetError):
    """A value did not fit the type DuckDB chose from the first rows of a CSV/JSON file."""


def _columnar_number(columns: ParquetColumns, name: str, dtype: str | None) -> bool:
    """A plain integer or float Parquet column DuckDB also types as a number."""
    return columns.numeric(name) and (dtype is None or physical_kind(dtype) is ColumnKind.NUMERIC)


def _columnar_text(columns: ParquetColumns, name: str, dtype: str | None) -> bool:
    """A Parquet string or boolean column DuckDB reads as VARCHAR or BOOLEAN."""
    return columns.text(name) and (dtype is None or dtype.upper() in {"VARCHAR", "BOOLEAN"})


def _text(name: str, dtype: str | None) -> str:
    """The column as text; JSON strings without their quotes (so `"a"` in JSONL is the `a` of
    a CSV; mixed JSON values come out as the JSON type)."""
    q = quote_ident(name)
    if dtype is not None and dtype.upper() == "JSON":
        return f"json_extract_string({q}, '$')"
    return f"CAST({q} AS VARCHAR)"


def _number_text(name: str, dtype: str | None) -> str:
    """A text column's values to read numbers from: blank text is a missing value, not text
    that failed to be a number."""
    return f"NULLIF(trim({_text(name, dtype)}), '')"


def _finite(name: str, dtype: str | None = None) -> str:
    """The column as DOUBLE with NaN and +-inf turned into NULL (they count as missing); a
    text column's numbers are read from its text (what is not a number becomes NULL)."""
    source = (
        _number_text(name, dtype) if dtype is not None and is_text(dtype) else quote_ident(name)
    )
    x = f"TRY_CAST({source} AS DOUBLE)"
    return f"(CASE WHEN isfinite({x}) THEN {x} END)"


def _align_histogram(hist: Mapping[float, int] | None, edges: Sequence[float]) -> tuple[int, ...]:
    """DuckDB's `histogram(x, bounds)` map (bound -> count of values <= bound, above the
    previous bound; `inf` for the rest) as counts in the bins `(-inf, e0], ..., (e_last, inf)`."""
    counts = [0] * (len(edges) + 1)
    if not hist:
        return tuple(counts)
    index = {float(e): i for i, e in enumerate(edges)}
    for bound, n in hist.items():
        i = index.get(float(bound), len(edges))
        counts[i] += int(n)
    return tuple(counts)


def _dataset_error(source: DataSource, exc: BaseException) -> DatasetError:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    hint = None
    lowered = message.lower()
    if "could not convert" in lowered or "conversion error" in lowered:
        hint = "a column holds values of more than one type; clean it or --exclude it"
    elif "parquet" in lowered or "magic" in lowered:
        hint = "the file is not a readable Parquet file (truncated or corrupt?)"
    elif "csv" in lowered or "sniff" in lowered:
        hint = "the file does not parse as CSV; check its delimiter, header and encoding"
    elif "json" in lowered:
        hint = "the file does not parse as JSON lines (one object per line)"
    return DatasetError(f"cannot read {source.label}: {message}", hint=hint)


def _map_columns(work: Callable[[str], _T], names: Sequence[str]) -> Iterator[_T]:
    """`work` of each column, in order, on one thread per core this process may use (affinity
    and cgroup quota counted), at most `MAX_COLUMN_THREADS`; on one core, one column after
    another in this thread. The error of the first failing column in order is raised."""
    from infermedic.profile.cores import available_cores

    threads = min(MAX_COLUMN_THREADS, available_cores().cores, len(names))
    if threads <= 1:
        yield from (work(name) for name in names)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        yield from pool.map(work, names)
