"""The drift profile: a versioned, mergeable per-column summary of one dataset.

Any engine (DuckDB here; Spark later) writes the same profile; `compare` reads only
profiles. Numeric columns keep an Apache DataSketches KLL sketch (mergeable, stated rank
error), exact counts of rows, NULLs and non-finite values, min/max/mean/variance, and exact
counts in bins on the reference's quantile edges. Categorical columns keep exact counts up to
a cap, then a frequent-items sketch with its stated error.

On disk a profile is one JSON document (`format`, `version`, base64 sketches) so it can be
read by any tool and diffed by eye: `profile_file` writes and reads it, `profile_check`
checks it field by field.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from infermedic.errors import DatasetError

PROFILE_FORMAT = "infermedic-drift-profile"
PROFILE_VERSION = 1
KLL_K = 2000  # 0.19% normalised rank error for the CDF at 99% confidence; ~30-45 KB a column
FINE_BINS = 1000  # reference-quantile bins kept for KS/Wasserstein bounds
PSI_BINS = 10
CATEGORY_CAP = 10_000  # exact category counts up to here, then a frequent-items sketch
FREQUENT_ITEMS_LG_MAX_K = 12


def sketches_module() -> ModuleType:
    """Apache DataSketches, imported where a sketch is built or read (a comparison of raw
    data against raw data needs none)."""
    import datasketches

    module: ModuleType = datasketches  # untyped package
    return module


class ColumnKind(enum.StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True, kw_only=True)
class Binning:
    """Exact counts of finite values in right-closed bins `(-inf, e0], (e0, e1], ..., (e_n, inf)`.

    `edges` come from the reference: a sentinel just below its minimum (so bin 0 holds values
    below the reference range), its quantiles at 1/1000..999/1000 with ties merged (exact,
    from the sorted values, for Parquet columns read by `columnar`; from the KLL sketch
    otherwise), and its maximum (so the last bin holds values above the range). `psi_edges`
    is the subset at the deciles.
    """

    edges: tuple[float, ...]
    psi_edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class NumericSummary:
    count: int  # finite values
    minimum: float | None
    maximum: float | None
    mean: float | None
    variance: float | None  # population variance of the finite values
    sketch: bytes | None  # serialised `kll_doubles_sketch`, or None when not built
    sketch_k: int = KLL_K
    binning: Binning | None = None

    def kll(self) -> Any:
        if self.sketch is None:
            return None
        return sketches_module().kll_doubles_sketch.deserialize(self.sketch)


@dataclass(frozen=True, kw_only=True)
class CategoricalSummary:
    counts: Mapping[str, int]  # exact when `sketch` is None
    sketch: bytes | None = None  # serialised `frequent_strings_sketch` once over the cap
    sketch_lg_max_k: int = FREQUENT_ITEMS_LG_MAX_K

    @property
    def exact(self) -> bool:
        return self.sketch is None

    def error_bound(self) -> int:
        """Largest error of any count, in rows (0 when exact)."""
        if self.sketch is None:
            return 0
        fi = sketches_module().frequent_strings_sketch.deserialize(self.sketch)
        return (
            int(fi.get_maximum_error())
            if hasattr(fi, "get_maximum_error")
            else int(math.ceil(fi.epsilon * fi.total_weight))
        )


@dataclass(frozen=True, kw_only=True)
class ColumnProfile:
    name: str
    kind: ColumnKind
    dtype: str  # the source's type name (DOUBLE, VARCHAR, BIGINT ...)
    rows: int
    nulls: int
    non_finite: int = 0  # NaN and +-inf in numeric columns, counted as missing
    # Text in a numeric column (a number column read from CSV/JSON as text): values that are
    # not numbers, and the most frequent of them. Not missing: they are a type change.
    unparsed: int = 0
    unparsed_examples: Mapping[str, int] = field(default_factory=dict)
    numeric: NumericSummary | None = None
    categorical: CategoricalSummary | None = None

    @property
    def missing(self) -> int:
        return self.nulls + self.non_finite

    @property
    def present(self) -> int:
        return self.rows - self.missing


@dataclass(frozen=True, kw_only=True)
class DatasetProfile:
    """One dataset's profile: what was read, how many rows, and each column's summary."""

    sources: tuple[str, ...]
    rows: int
    columns: tuple[ColumnProfile, ...]
    engine: str = "duckdb"
    created_at: str | None = None
    excluded: Mapping[str, str] = field(default_factory=dict)  # column -> why it was left out
    version: int = PROFILE_VERSION

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def label(self) -> str:
        return (
            self.sources[0]
            if len(self.sources) == 1
            else f"{self.sources[0]} (+{len(self.sources) - 1})"
        )


def kll_edges(
    sketch: Any, minimum: float, maximum: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Fine and PSI edges from a reference KLL sketch and its exact min and max."""
    ranks = [i / FINE_BINS for i in range(1, FINE_BINS)]
    quantiles = np.asarray(sketch.get_quantiles(ranks), dtype=np.float64)
    return _edges(quantiles, minimum, maximum)


def quantile_edges(
    sorted_values: NDArray[np.float64],
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Fine and PSI edges from all of a reference's finite values, sorted: the exact
    quantiles at 1/1000..999/1000, each the smallest value whose share of values at or below
    it reaches the rank (the definition of the KLL sketch's inclusive quantiles)."""
    n = int(sorted_values.size)
    ranks = np.arange(1, FINE_BINS, dtype=np.int64)
    index = (ranks * n + FINE_BINS - 1) // FINE_BINS - 1  # ceil(rank * n) - 1
    quantiles = sorted_values[index]
    return _edges(quantiles, float(sorted_values[0]), float(sorted_values[-1]))


def _edges(
    quantiles: NDArray[np.float64], minimum: float, maximum: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    below = float(np.nextafter(minimum, -np.inf))
    fine = np.unique(np.concatenate(([below], quantiles, [maximum])))
    step = FINE_BINS // PSI_BINS
    psi = np.unique(quantiles[step - 1 :: step])
    return tuple(float(v) for v in fine), tuple(float(v) for v in psi)


def reference_edges(column: ColumnProfile) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The (fine, PSI) edges a current column is binned on: the reference's own, or, for a
    reference merged from profiles with different edges, edges read from its merged sketch."""
    summary = column.numeric
    if summary is None:
        return None
    if summary.binning is not None:
        return summary.binning.edges, summary.binning.psi_edges
    sketch = summary.kll()
    if sketch is None or summary.minimum is None or summary.maximum is None:
        return None
    return kll_edges(sketch, summary.minimum, summary.maximum)


# -- merging ---------------------------------------------------------------------------------


def merge_profiles(profiles: Sequence[DatasetProfile]) -> DatasetProfile:
    """The profile of the union of the profiled datasets.

    Counts (rows, NULLs, non-finite values, bin counts on identical edges, exact category
    counts) add exactly; min/max exactly; mean and variance by Chan's parallel formula; KLL
    and frequent-items sketches merge within their stated errors. Bin counts survive only
    when every input was binned on the same edges (daily profiles binned on one reference);
    otherwise they are dropped and comparisons fall back to the merged sketch.
    """
    if not profiles:
        raise DatasetError("nothing to merge")
    first = profiles[0]
    names = [c.name for c in first.columns]
    # Columns match by name, not position: engines list columns in different orders (Spark's
    # JSON reader sorts them), and a profile is the same data whatever its column order.
    by_name = [{c.name: c for c in p.columns} for p in profiles]
    for other in by_name[1:]:
        if set(other) != set(names):
            raise DatasetError(
                "profiles to merge have different columns: "
                f"{', '.join(sorted(names))} vs {', '.join(sorted(other))}",
                hint="merge profiles of the same dataset layout (the same columns)",
            )
    columns = []
    for name in names:
        parts = [columns_of[name] for columns_of in by_name]
        kinds = {p.kind for p in parts}
        if len(kinds) > 1:
            raise DatasetError(
                f"column {name!r} is numeric in one profile and categorical in another"
            )
        columns.append(_merge_columns(parts))
    excluded: dict[str, str] = {}
    for profile in profiles:
        excluded.update(profile.excluded)
    return DatasetProfile(
        sources=tuple(s for p in profiles for s in p.sources),
        rows=sum(p.rows for p in profiles),
        columns=tuple(columns),
        engine=first.engine if all(p.engine == first.engine for p in profiles) else "mixed",
        created_at=first.created_at,
        excluded=excluded,
    )


def _merge_columns(parts: Sequence[ColumnProfile]) -> ColumnProfile:
    head = parts[0]
    base = replace(
        head,
        rows=sum(p.rows for p in parts),
        nulls=sum(p.nulls for p in parts),
        non_finite=sum(p.non_finite for p in parts),
        unparsed=sum(p.unparsed for p in parts),
        unparsed_examples=top_counts([p.unparsed_examples for p in parts]),
        dtype=head.dtype
        if all(p.dtype == head.dtype for p in parts)
        else "/".join(sorted({p.dtype for p in parts})),
    )
    if head.kind is ColumnKind.NUMERIC:
        summaries = [p.numeric for p in parts if p.numeric is not None]
        return replace(base, numeric=_merge_numeric(summaries))
    cats = [p.categorical for p in parts if p.categorical is not None]
    return replace(base, categorical=merge_categorical(cats))


def _merge_numeric(parts: Sequence[NumericSummary]) -> NumericSummary:
    present = [p for p in parts if p.count > 0]
    count = sum(p.count for p in present)
    if not present:
        return parts[0]
    mean = sum(p.count * (p.mean or 0.0) for p in present) / count
    m2 = sum(
        p.count * (p.variance or 0.0) + p.count * ((p.mean or 0.0) - mean) ** 2 for p in present
    )
    sketch: bytes | None = None
    if all(p.sketch is not None for p in present):
        merged = sketches_module().kll_doubles_sketch(present[0].sketch_k)
        for p in present:
            merged.merge(p.kll())
        sketch = bytes(merged.serialize())
    binnings = [p.binning for p in parts]
    binning: Binning | None = None
    if all(b is not None for b in binnings):
        edges = {b.edges for b in binnings if b is not None}
        if len(edges) == 1:
            first = binnings[0]
            assert first is not None
            total = np.sum(
                [np.asarray(b.counts, dtype=np.int64) for b in binnings if b is not None], axis=0
            )
            binning = Binning(
                edges=first.edges, psi_edges=first.psi_edges, counts=tuple(int(c) for c in total)
            )
    return NumericSummary(
        count=count,
        minimum=min(p.minimum for p in present if p.minimum is not None),
        maximum=max(p.maximum for p in present if p.maximum is not None),
        mean=mean,
        variance=m2 / count,
        sketch=sketch,
        sketch_k=present[0].sketch_k,
        binning=binning,
    )


UNPARSED_EXAMPLES = 10  # the most frequent non-numbers kept per column


def top_counts(parts: Sequence[Mapping[str, int]], keep: int = UNPARSED_EXAMPLES) -> dict[str, int]:
    """The `keep` largest of the summed counts (ties by value, so the result is stable)."""
    total: dict[str, int] = {}
    for part in parts:
        for value, n in part.items():
            total[value] = total.get(value, 0) + n
    return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:keep])


def merge_categorical(parts: Sequence[CategoricalSummary]) -> CategoricalSummary:
    """Add category counts; past `CATEGORY_CAP` categories switch to a frequent-items sketch."""
    counts: dict[str, int] = {}
    sketches = [p.sketch for p in parts if p.sketch is not None]
    for part in parts:
        if part.sketch is None:
            for value, n in part.counts.items():
                counts[value] = counts.get(value, 0) + n
    if not sketches and len(counts) <= CATEGORY_CAP:
        return CategoricalSummary(counts=counts)
    return categorical_from_counts(counts, sketches)


def categorical_from_counts(
    counts: Mapping[str, int], sketches: Sequence[bytes] = ()
) -> CategoricalSummary:
    """A summary from exact counts; beyond the cap, a frequent-items sketch keeps the heavy ones."""
    if not sketches and len(counts) <= CATEGORY_CAP:
        return CategoricalSummary(counts=dict(counts))
    fi = sketches_module().frequent_strings_sketch(FREQUENT_ITEMS_LG_MAX_K)
    for value, n in counts.items():
        fi.update(value, n)
    for raw in sketches:
        fi.merge(sketches_module().frequent_strings_sketch.deserialize(raw))
    heavy = fi.get_frequent_items(sketches_module().frequent_items_error_type.NO_FALSE_NEGATIVES)
    estimates = {str(item[0]): int(item[1]) for item in heavy}
    return CategoricalSummary(counts=estimates, sketch=bytes(fi.serialize()))


def numeric_column(
    *,
    name: str,
    dtype: str,
    rows: int,
    non_null: int,
    finite: int,
    minimum: float | None,
    maximum: float | None,
    mean: float | None,
    variance: float | None,
    sketch: bytes | None,
    edges: tuple[tuple[float, ...], tuple[float, ...]] | None,
    counts: tuple[int, ...] | None,
    unparsed: int = 0,
    unparsed_examples: Mapping[str, int] | None = None,
) -> ColumnProfile:
    """A numeric column's profile from what any engine measured of it (one constructor, so
    the DuckDB and Spark engines cannot drift apart in what a profile holds)."""
    binning = None
    if edges is not None and counts is not None:
        binning = Binning(edges=edges[0], psi_edges=edges[1], counts=counts)
    return ColumnProfile(
        name=name,
        kind=ColumnKind.NUMERIC,
        dtype=dtype,
        rows=rows,
        nulls=rows - non_null,
        non_finite=non_null - finite - unparsed,
        unparsed=unparsed,
        unparsed_examples=dict(unparsed_examples or {}),
        numeric=NumericSummary(
            count=finite,
            minimum=minimum,
            maximum=maximum,
            mean=mean,
            variance=variance,
            sketch=sketch,
            sketch_k=KLL_K,
            binning=binning,
        ),
    )


def categorical_column(
    *, name: str, dtype: str, rows: int, counts: Mapping[str | None, int]
) -> ColumnProfile:
    """A categorical column's profile from its value counts (`None` counts the NULLs)."""
    values = {str(k): int(v) for k, v in counts.items() if k is not None}
    return ColumnProfile(
        name=name,
        kind=ColumnKind.CATEGORICAL,
        dtype=dtype,
        rows=rows,
        nulls=int(counts.get(None, 0)),
        categorical=categorical_from_counts(values),
    )
