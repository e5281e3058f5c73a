"""Arrow-native passes over Parquet: each column read once, its finite values sorted once.

DuckDB's SQL passes cost seconds per million rows for what drift needs (`histogram()` over
~1000 edges per column, one exact-KS query per column). Parquet is columnar, so a single
column costs only its own pages: this module reads one column at a time with pyarrow, sorts
its finite values with numpy (a vectorised sort is ~10x faster here than a binary search per
value into the edges) and derives everything from the sorted array: counts, min/max,
mean/variance, exact quantile edges, bin counts (one binary search per edge) and, for a
reference/current pair, the exact KS statistic and 1-Wasserstein distance from one merge.

Only plain numeric (integer, float) and text (string, boolean) Parquet columns come here;
the DuckDB engine keeps its SQL for everything else (numbers stored as text, JSON, CSV...),
and both fill the same profile fields with the same definitions.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from infermedic.drift.parquet_files import read_column, read_metadata
from infermedic.drift.sources import DataSource, FileFormat
from infermedic.errors import DatasetError

FloatArray = NDArray[np.float64]
_BLOCK = 1 << 18  # quantile steps per block of the Wasserstein walk (bounds temporaries)
# Dictionary entries (summed over a column's chunks) up to which text values are counted
# with numpy on the dictionary indices; beyond, Arrow's hash kernel unifies them.
_DICTIONARY_COUNT_MAX = 100_000
# The type names DuckDB's `DESCRIBE` gives plain Parquet columns (a test pins each), so a
# profile read here names its types as one read by DuckDB does.
_DUCKDB_TYPES: dict[pa.DataType, str] = {
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT",
    pa.uint16(): "USMALLINT",
    pa.uint32(): "UINTEGER",
    pa.uint64(): "UBIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
}


@dataclass(frozen=True, kw_only=True)
class NumericStats:
    """What a profile keeps of one numeric column (every engine pass fills this)."""

    non_null: int
    finite: int
    minimum: float | None
    maximum: float | None
    mean: float | None
    variance: float | None
    histogram: tuple[int, ...] | None
    unparsed: int = 0


@dataclass(frozen=True, kw_only=True)
class SortedColumn:
    """One numeric column: its row and NULL counts and its finite values in ascending order."""

    rows: int
    nulls: int
    values: FloatArray

    def stats(self, edges: tuple[float, ...] | None, *, consume: bool = False) -> NumericStats:
        """Counts, range, moments and (with `edges`) counts in the right-closed bins
        `(-inf, e0], (e0, e1], ..., (e_last, inf)`, all exact.

        `consume`: the caller never reads `values` again, so the moments may use its memory
        for their deviations (its contents are then lost)."""
        v = self.values
        histogram = None
        if edges is not None:
            below = np.searchsorted(v, np.asarray(edges, dtype=np.float64), side="right")
            histogram = tuple(int(c) for c in np.diff(below, prepend=0, append=v.size))
        if v.size == 0:
            return NumericStats(
                non_null=self.rows - self.nulls,
                finite=0,
                minimum=None,
                maximum=None,
                mean=None,
                variance=None,
                histogram=histogram,
            )
        minimum, maximum = float(v[0]), float(v[-1])
        mean, variance = _moments(v, in_place=consume)
        return NumericStats(
            non_null=self.rows - self.nulls,
            finite=int(v.size),
            minimum=minimum,
            maximum=maximum,
            mean=mean,
            variance=variance,
            histogram=histogram,
        )


def _moments(v: FloatArray, *, in_place: bool = False) -> tuple[float, float]:
    """Mean and population variance of sorted values that do not overflow on values near the
    float limit (computed on values scaled into [-1, 1]); a variance beyond the largest double
    is stored as the largest double, since a profile holds only finite numbers.

    `in_place`: the deviations overwrite `v` where no square can overflow (so the scaled
    pass, which needs `v`, cannot follow): no 8-byte temporary per value (~1.5 ms per 1M)."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected and redone
        mean = float(np.mean(v))
        reach = 2.0 * max(abs(float(v[0])), abs(float(v[-1])))  # bounds every |v - mean|
        if in_place and math.isfinite(v.size * reach * reach):
            deviation = np.subtract(v, mean, out=v)
        else:
            deviation = v - mean
        variance = _dot(deviation, deviation) / v.size
    if math.isfinite(mean) and math.isfinite(variance):
        return mean, variance
    scale = max(abs(float(v[0])), abs(float(v[-1])))
    scaled = v / scale
    mean = float(np.mean(scaled)) * scale
    variance = float(np.var(scaled)) * scale * scale
    return mean, min(variance, sys.float_info.max)


def _dot(x: FloatArray, y: FloatArray) -> float:
    """The dot product by numpy's own SIMD loop. `np.dot` calls BLAS, whose threads cost
    ~16 ms per call at 100,000 values on a busy two-core machine (0.04 ms here)."""
    return float(np.einsum("i,i->", x, y))


def ks_wasserstein(a: FloatArray, b: FloatArray) -> tuple[float, float]:
    """Exact two-sample KS statistic and 1-Wasserstein distance of two sorted samples, with
    the definitions of `scipy.stats.ks_2samp` and `scipy.stats.wasserstein_distance` (both
    ECDFs compared after each distinct value, ties together). NaN when a sample is empty."""
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan
    return _ks_statistic(a, b), _wasserstein(a, b)


def _ks_statistic(a: FloatArray, b: FloatArray) -> float:
    """max |F_a(x) - F_b(x)| over every value x of either sample, without merging them.

    Both ECDFs are evaluated exactly at a grid of about (n+m)/64 values of the samples
    (their quantiles and extremes). Between two grid values each ECDF moves at most by its
    count there, which bounds the gap inside; only the few intervals whose bound exceeds the
    largest gap seen are evaluated value by value. Counts are compared as integers (in units
    of 1/(n*m)) so the pruning is exact; D itself is computed as scipy does, count/n - count/m.
    """
    n, m = int(a.size), int(b.size)
    grid = max(2, (n + m) // 64)
    edges = np.unique(
        np.concatenate(
            (
                a[np.linspace(0, n - 1, min(n, grid)).astype(np.int64)],
                b[np.linspace(0, m - 1, min(m, grid)).astype(np.int64)],
            )
        )
    )  # holds the smallest and the largest value of both samples
    ca = np.searchsorted(a, edges, side="right")
    cb = np.searchsorted(b, edges, side="right")
    gap = ca * m - cb * n
    largest = int(np.max(np.abs(gap)))
    d = float(np.max(np.abs(ca / n - cb / m)))
    # inside (e[k-1], e[k]): F_a in [F_a(e[k-1]), F_a(e[k])), likewise F_b
    bound = np.maximum(ca[1:] * m - cb[:-1] * n, cb[1:] * n - ca[:-1] * m)
    open_k = np.flatnonzero(bound > largest) + 1
    if open_k.size:
        below = edges[open_k]
        inside = np.concatenate(
            (
                a[_ranges(ca[open_k - 1], np.searchsorted(a, below, side="left"))],
                b[_ranges(cb[open_k - 1], np.searchsorted(b, below, side="left"))],
            )
        )
        if inside.size:
            fa = np.searchsorted(a, inside, side="right")
            fb = np.searchsorted(b, inside, side="right")
            d = max(d, float(np.max(np.abs(fa / n - fb / m))))
    return d


def _ranges(starts: NDArray[np.int64], stops: NDArray[np.int64]) -> NDArray[np.int64]:
    """The concatenated index ranges [start, stop) (empty where stop <= start)."""
    lengths = np.maximum(stops - starts, 0)
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total, dtype=np.int64)


def _wasserstein(a: FloatArray, b: FloatArray) -> float:
    """The 1-Wasserstein distance as the area between the two quantile functions.

    In one dimension it equals the area between the ECDFs (scipy's definition) and needs
    no merge of the values: the quantile functions step at i/n and j/m, whose merged order
    is arithmetic. Walked in blocks of a's steps, in units of 1/(n*m): integers below 2**53,
    so float64 holds them exactly, and a quotient of two of them is never rounded across an
    integer while n*m < 2**52 (integer division above that)."""
    n, m = int(a.size), int(b.size)
    if n == m:  # the steps coincide: the mean distance between matching order statistics
        gaps = a - b
        np.abs(gaps, out=gaps)  # in place: one 8-byte temporary per value, not two
        return float(np.mean(gaps))
    div = _float_div if n * m < 2**52 else _int_div
    total = 0.0
    for first in range(0, n, _BLOCK):
        last = min(first + _BLOCK, n)
        i = np.arange(first + 1, last + 1, dtype=np.int64)  # a's steps i*m in this block
        j_low = first * m // n + 1  # b's steps j*n inside (first*m, last*m]
        j = np.arange(j_low, last * m // n + 1, dtype=np.int64)
        steps = np.empty(i.size + j.size, dtype=np.int64)
        # stable merge ranks: a step before an equal b step
        steps[(i - first - 1) + (div(i * m - 1, n) - j_low + 1)] = i * m
        steps[(j - j_low) + (div(j * n, m) - first)] = j * n
        du = np.diff(steps, prepend=first * m)
        qa = a[div(steps + m - 1, m) - 1]
        qb = b[div(steps + n - 1, n) - 1]
        total += _dot(np.abs(qa - qb), du.astype(np.float64))
    return total / (float(n) * float(m))


def _float_div(x: NDArray[np.int64], y: int) -> NDArray[np.int64]:
    """floor(x / y) for non-negative integers below 2**53 whose quotient is exact enough."""
    return np.floor(x / y).astype(np.int64)


def _int_div(x: NDArray[np.int64], y: int) -> NDArray[np.int64]:
    return x // y


class ParquetColumns:
    """Single columns of a Parquet `DataSource`, read with pyarrow.

    A column qualifies when every file has it, with one type, under a plain name (pyarrow
    reads `a.b` as a nested path); anything else is left to DuckDB (`union_by_name`).
    """

    def __init__(self, source: DataSource) -> None:
        self.label = source.label
        self._files = source.files
        self._metadata = [read_metadata(f) for f in source.files]
        self.rows = sum(int(m.num_rows) for m in self._metadata)
        schemas = [m.schema.to_arrow_schema() for m in self._metadata]
        names = schemas[0].names
        self._same_names = all(s.names == names for s in schemas[1:])
        self._types: dict[str, pa.DataType] = {}
        for field in schemas[0]:
            if names.count(field.name) != 1 or "." in field.name:
                continue
            if all(
                s.get_field_index(field.name) >= 0 and s.field(field.name).type == field.type
                for s in schemas[1:]
            ):
                self._types[field.name] = field.type

    @classmethod
    def open(cls, source: DataSource) -> ParquetColumns | None:
        """The columns of `source`, or None when it is not Parquet pyarrow can read (DuckDB
        then reads it, and reports damage in its own words)."""
        if source.file_format is not FileFormat.PARQUET:
            return None
        try:
            return cls(source)
        except (pa.ArrowException, OSError, ValueError):
            return None

    def duckdb_schema(self) -> list[tuple[str, str]] | None:
        """(name, DuckDB type name) of every column, as DuckDB's `DESCRIBE` of the files gives
        them, when every file has the same plain columns of types named in `_DUCKDB_TYPES`;
        None otherwise (DuckDB then describes the files itself)."""
        if not self._same_names or len(self._types) != len(self._metadata[0].schema.names):
            return None
        out = [(name, _DUCKDB_TYPES.get(t)) for name, t in self._types.items()]
        if any(t is None for _, t in out):
            return None
        return [(name, str(t)) for name, t in out]

    def numeric(self, name: str) -> bool:
        t = self._types.get(name)
        return t is not None and (pa.types.is_integer(t) or pa.types.is_floating(t))

    def text(self, name: str) -> bool:
        t = self._types.get(name)
        if t is not None and pa.types.is_dictionary(t):
            t = t.value_type
        return t is not None and (
            pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t)
        )

    def _read(self, name: str, *, dictionary: bool = False) -> pa.ChunkedArray:
        chunks: list[pa.Array] = []
        kind: pa.DataType | None = None
        try:
            for path, metadata in zip(self._files, self._metadata, strict=True):
                table = read_column(path, metadata, name, dictionary=dictionary)
                kind = table.column(0).type
                chunks += table.column(0).chunks
        except (pa.ArrowException, OSError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatasetError(
                f"cannot read {self.label}: {message}",
                hint="the file is not a readable Parquet file (truncated or corrupt?)",
            ) from exc
        return pa.chunked_array(chunks, type=kind)

    def sorted_numbers(self, name: str) -> SortedColumn:
        """The column's finite values, sorted; NULLs counted, NaN and +-inf dropped (missing)."""
        array = self._read(name)
        parts = [_float_values(chunk) for chunk in array.chunks]  # NULLs come out as NaN
        if len(parts) == 1 and parts[0].flags.writeable:
            # The read's own buffer (or a converted copy), held by nothing else: sorted in
            # place, without a copy (~2 ms per 1M values).
            values = parts[0]
        else:
            values = np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)
        del parts
        # numpy sorts -inf first and +inf, then NaN, last: the finite values are one slice
        values.sort()
        low = int(np.searchsorted(values, -np.inf, side="right"))
        high = int(np.searchsorted(values, np.inf, side="left"))
        return SortedColumn(rows=len(array), nulls=array.null_count, values=values[low:high])

    def value_counts(self, name: str) -> dict[str | None, int]:
        """Counts of each text value (`None` counts the NULLs), as DuckDB's `CAST(x AS VARCHAR)`
        spells them (booleans `true`/`false`)."""
        t = self._types[name]
        array = self._read(name, dictionary=pa.types.is_string(t) or pa.types.is_large_string(t))
        counts: dict[str | None, int] = {}
        chunks = array.chunks
        if all(pa.types.is_boolean(c.type) for c in chunks):
            for chunk in chunks:
                _add_boolean_counts(chunk, counts)
            return counts
        if all(pa.types.is_dictionary(c.type) for c in chunks) and (
            sum(len(c.dictionary) for c in chunks) <= _DICTIONARY_COUNT_MAX
        ):
            for chunk in chunks:
                _add_dictionary_counts(chunk, counts)
            return counts
        import pyarrow.compute as pc  # many distinct values: ~0.1 s to import, worth it here

        if any(pa.types.is_boolean(c.type) for c in chunks):
            array = pc.cast(array, pa.string())
        values = pc.value_counts(array)
        numbers: list[int] = values.field("counts").to_pylist()  # (to_numpy imports pandas)
        for value, n in zip(values.field("values").to_pylist(), numbers, strict=True):
            key = None if value is None else str(value)
            counts[key] = counts.get(key, 0) + int(n)
        return counts


def _valid(array: pa.Array) -> NDArray[np.bool_] | None:
    """Which entries of `array` are not NULL (None when none is)."""
    if array.null_count == 0:
        return None
    bits = np.frombuffer(array.buffers()[0], dtype=np.uint8)
    valid = np.unpackbits(bits, count=array.offset + len(array), bitorder="little")
    return valid[array.offset :].astype(bool)


def _add_dictionary_counts(chunk: pa.DictionaryArray, counts: dict[str | None, int]) -> None:
    """Add one dictionary-encoded chunk's value counts: a bincount of its indices."""
    indices = chunk.indices
    data = indices.buffers()[1]
    dtype = _numpy_type(indices.type)
    codes = np.frombuffer(data, dtype, len(indices), offset=indices.offset * dtype.itemsize)
    valid = _valid(indices)
    if valid is not None:
        counts[None] = counts.get(None, 0) + int(len(codes) - np.count_nonzero(valid))
        codes = codes[valid]
    tally = np.bincount(codes, minlength=len(chunk.dictionary)) if codes.size else None
    if tally is None:
        return
    for value, n in zip(chunk.dictionary.to_pylist(), tally.tolist(), strict=False):
        if n:
            key = str(value)
            counts[key] = counts.get(key, 0) + n


def _add_boolean_counts(chunk: pa.BooleanArray, counts: dict[str | None, int]) -> None:
    """Add one boolean chunk's counts, keyed as DuckDB spells booleans as text."""
    if len(chunk) == 0:
        return
    bits = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
    values = np.unpackbits(bits, count=chunk.offset + len(chunk), bitorder="little")[chunk.offset :]
    valid = _valid(chunk)
    if valid is not None:
        counts[None] = counts.get(None, 0) + int(len(values) - np.count_nonzero(valid))
        values = values[valid]
    true = int(np.count_nonzero(values))
    for key, n in (("true", true), ("false", int(values.size) - true)):
        if n:
            counts[key] = counts.get(key, 0) + n


def _float_values(chunk: pa.Array) -> FloatArray:
    """A numeric Arrow array as float64 values, NULL as NaN, read from its buffers.

    (`Array.to_numpy` and a Python-float fill value each import pandas, about half a second
    of CPU, and `pyarrow.compute` ~0.1 s, for nothing here.)"""
    dtype = _numpy_type(chunk.type)
    data = chunk.buffers()[1]
    if data is None or len(chunk) == 0:
        return np.empty(0, dtype=np.float64)
    raw = np.frombuffer(data, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize)
    # as numpy's astype (and Arrow's unsafe cast): integers beyond 2**53 may round
    values = raw if dtype == np.float64 else raw.astype(np.float64)
    valid = _valid(chunk)
    if valid is not None:
        values = values.copy() if values is raw else values
        values[~valid] = np.nan
    return values


def _numpy_type(t: pa.DataType) -> np.dtype[Any]:
    """The numpy type of a fixed-width integer or float Arrow type's data buffer."""
    kind = "f" if pa.types.is_floating(t) else "u" if pa.types.is_unsigned_integer(t) else "i"
    return np.dtype(f"{kind}{t.bit_width // 8}")
