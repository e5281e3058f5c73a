"""The single-machine engine: drift profiles and exact two-sample tests with DuckDB, out of core.

Every pass is SQL over the files (histograms on the reference edges, counts, moments,
category counts with GROUPING SETS, exact KS/Wasserstein from a merged ECDF), except the
KLL sketch, which is fed from Arrow record batches streamed out of DuckDB (bounded memory).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import datasketches
import duckdb
import numpy as np

from infermedic.drift.profile import (
    KLL_K,
    UNPARSED_EXAMPLES,
    ColumnKind,
    DatasetProfile,
    categorical_column,
    kll_edges,
    numeric_column,
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

Progress = Callable[[str], None]
BATCH_ROWS = 131_072
MAX_CATEGORIES = 1_000  # above this many distinct strings (and half the rows) a column is id-like


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

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        self._spill = tempfile.mkdtemp(prefix="infermedic-duckdb-")
        self.con = duckdb.connect(":memory:")
        # Spilling needs a directory; insertion order is never needed and costs memory.
        self.con.execute(f"SET temp_directory = '{self._spill}'")
        self.con.execute("SET preserve_insertion_order = false")
        self._sample_all: set[DataSource] = set()  # CSV/JSON typed from all rows, not a sample
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")

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
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    # -- reading ---------------------------------------------------------------------------

    def _table(self, source: DataSource) -> str:
        return source.table_sql(sample_all=source in self._sample_all)

    def _query(self, source: DataSource, sql: str) -> list[tuple[object, ...]]:
        try:
            return self.con.execute(sql).fetchall()
        except duckdb.Error as exc:
            if _sampled_type_failed(exc) and source.file_format is not FileFormat.PARQUET:
                if source in self._sample_all:
                    raise _dataset_error(source, exc) from exc
                error = _dataset_error(source, exc)
                raise _SampledTypeError(str(error), hint=error.hint) from exc
            raise _dataset_error(source, exc) from exc

    def schema(self, source: DataSource) -> list[tuple[str, str]]:
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
        text = [n for n, t in schema if physical_kind(t) is ColumnKind.CATEGORICAL]
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
        plan = plan_columns(
            schema,
            options,
            {k: (v[0], v[1], v[2]) for k, v in stats.items()},
            rows,
            max_categories=MAX_CATEGORIES,
        )
        return plan, rows

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
        if numeric and (sketches or reference is None):
            if progress:
                progress(f"sketching {len(numeric)} numeric columns of {source.label}")
            built = self._kll_pass(source, numeric, dtypes)
            for name, sketch in built.items():
                kll[name] = None if sketch is None else bytes(sketch.serialize())
                if reference is None and sketch is not None:
                    edges[name] = kll_edges(sketch, sketch.get_min_value(), sketch.get_max_value())
        if progress:
            progress(f"counting {source.label}")
        rows, numeric_stats = self._numeric_pass(source, numeric, edges, dtypes)
        examples = {
            name: self._unparsed_examples(source, name, dtypes[name])
            for name in numeric
            if numeric_stats[name].unparsed > 0
        }
        category_counts = self._categorical_pass(source, categorical, dtypes)
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
        return DatasetProfile(
            sources=(source.label,),
            rows=rows,
            columns=tuple(columns),
            engine=self.name,
            excluded=dict(excluded or {}),
        )

    def _kll_pass(
        self, source: DataSource, numeric: Sequence[str], dtypes: Mapping[str, str]
    ) -> dict[str, Any]:
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
        except duckdb.Error as exc:
            raise _dataset_error(source, exc) from exc
        return {n: (None if s.is_empty() else s) for n, s in sketches.items()}

    def _numeric_pass(
        self,
        source: DataSource,
        numeric: Sequence[str],
        edges: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]] | None],
        dtypes: Mapping[str, str],
    ) -> tuple[int, dict[str, _NumericStats]]:
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
        stats: dict[str, _NumericStats] = {}
        for i, name in enumerate(numeric):
            non_null, finite, lo, hi, mean, var, unparsed, hist = row[1 + 8 * i : 9 + 8 * i]
            e = edges.get(name)
            histogram = None
            if e is not None:
                histogram = _align_histogram(hist, e[0])  # type: ignore[arg-type]
            stats[name] = _NumericStats(
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
        except duckdb.Error as exc:
            raise _dataset_error(current, exc) from exc
        assert row is not None
        return ExactNumeric(
            ks_statistic=float(row[0] or 0.0),
            wasserstein=float(row[1] or 0.0),
            n_reference=n_reference,
            n_current=n_current,
        )


def _sampled_type_failed(exc: duckdb.Error) -> bool:
    """A CSV value that does not convert to its column's type, or a JSON one that fails to
    cast: the type came from a sample of the rows."""
    text = str(exc)
    return isinstance(exc, duckdb.ConversionException) or (
        isinstance(exc, duckdb.InvalidInputException)
        and ("Failed to cast" in text or "Could not convert" in text)
    )


class _SampledTypeError(DatasetError):
    """A value did not fit the type DuckDB chose from the first rows of a CSV/JSON file."""


@dataclass(frozen=True, kw_only=True)
class _NumericStats:
    non_null: int
    finite: int
    minimum: float | None
    maximum: float | None
    mean: float | None
    variance: float | None
    histogram: tuple[int, ...] | None
    unparsed: int = 0


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
