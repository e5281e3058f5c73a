"""Measure: two drift profiles (plus exact results where the engine ran them) to typed
`DriftObservations`.

This is the one boundary between the computation side (profiles, sketches, `stats`) and the
rules: it reads what `profile` and `stats` return today and builds the typed per-column
statistics, so their internals can change underneath without a rule noticing. Nothing here
judges: there are no thresholds, only statistics, p-values and what could not be computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from infermedic.drift import stats
from infermedic.drift.categories import encoding_mismatch, normalise_pair
from infermedic.drift.observations import (
    CategoricalStats,
    CategoryShift,
    ColumnRole,
    ColumnSchema,
    ColumnStats,
    DatasetSummary,
    DriftObservations,
    Histogram,
    MissingStats,
    NumericShift,
    NumericStats,
)
from infermedic.drift.options import DriftOptions
from infermedic.drift.profile import ColumnKind, ColumnProfile, DatasetProfile, kll_edges
from infermedic.drift.sources import NUMERIC_TYPES

MAX_PLOT_CATEGORIES = 20


@dataclass(frozen=True, kw_only=True)
class ExactResult:
    """Exact KS D and Wasserstein distance for one numeric column, from raw data."""

    ks_statistic: float
    wasserstein: float


def observe(
    reference: DatasetProfile,
    current: DatasetProfile,
    *,
    options: DriftOptions,
    predictions: Sequence[str] = (),
    targets: Sequence[str] = (),
    exact: Mapping[str, ExactResult] | None = None,
    reference_label: str | None = None,
    current_label: str | None = None,
) -> DriftObservations:
    """The statistics of every column both profiles hold with the same kind."""
    exact = exact or {}
    columns: list[ColumnStats] = []
    for ref_col in reference.columns:
        cur_col = current.column(ref_col.name)
        if cur_col is None or cur_col.kind is not ref_col.kind:
            continue
        role = (
            ColumnRole.PREDICTION
            if ref_col.name in predictions
            else ColumnRole.TARGET
            if ref_col.name in targets
            else ColumnRole.FEATURE
        )
        warnings: list[str] = []
        remarks: list[str] = []
        numeric = categorical = None
        if ref_col.kind is ColumnKind.NUMERIC:
            numeric = _numeric(ref_col, cur_col, exact.get(ref_col.name), warnings)
        else:
            categorical = _categorical(ref_col, cur_col, warnings, remarks)
        if ref_col.rows and ref_col.missing == ref_col.rows:
            warnings.append(f"column {ref_col.name!r} is entirely missing in the reference data")
        columns.append(
            ColumnStats(
                name=ref_col.name,
                role=role,
                kind=ref_col.kind.value,
                missing=MissingStats(
                    rows_reference=ref_col.rows,
                    rows_current=cur_col.rows,
                    missing_reference=ref_col.missing,
                    missing_current=cur_col.missing,
                    p_value=stats.two_proportion_test(
                        ref_col.missing, ref_col.rows, cur_col.missing, cur_col.rows
                    ).p_value,
                ),
                numeric=numeric,
                categorical=categorical,
                warnings=tuple(warnings),
                remarks=tuple(remarks),
            )
        )
    return DriftObservations(
        options=options,
        reference=_summary(reference, reference_label or reference.label),
        current=_summary(current, current_label or current.label),
        predictions=tuple(predictions),
        targets=tuple(targets),
        columns=tuple(columns),
    )


def _summary(profile: DatasetProfile, label: str) -> DatasetSummary:
    return DatasetSummary(
        label=label,
        rows=profile.rows,
        sources=tuple(profile.sources),
        columns=tuple(
            ColumnSchema(
                name=c.name,
                dtype=c.dtype,
                kind=c.kind.value,
                numeric_type=bool(NUMERIC_TYPES.match(c.dtype.upper())),
                rows=c.rows,
                nulls=c.nulls,
                unparsed=c.unparsed,
                unparsed_examples=dict(c.unparsed_examples),
                numbers=c.numeric.count if c.numeric is not None else 0,
            )
            for c in profile.columns
        ),
        excluded=dict(profile.excluded),
    )


# -- numeric ---------------------------------------------------------------------------------


def _optional(value: float | None) -> float | None:
    return None if value is None else float(value)


def _numeric(
    ref: ColumnProfile, cur: ColumnProfile, exact: ExactResult | None, warnings: list[str]
) -> NumericStats:
    r, c = ref.numeric, cur.numeric
    assert r is not None and c is not None
    name = ref.name
    moments = NumericStats(
        n_reference=r.count,
        n_current=c.count,
        mean_reference=_optional(r.mean),
        mean_current=_optional(c.mean),
        std_reference=None if r.variance is None else math.sqrt(r.variance),
        std_current=None if c.variance is None else math.sqrt(c.variance),
        min_reference=_optional(r.minimum),
        max_reference=_optional(r.maximum),
        min_current=_optional(c.minimum),
        max_current=_optional(c.maximum),
        shift=None,
    )
    if r.count == 0 or c.count == 0:
        side = "reference" if r.count == 0 else "current"
        text = ref.unparsed if r.count == 0 else cur.unparsed
        if text:
            warnings.append(
                f"column {name!r} holds no numbers in the {side} data ({text} values "
                "are text, see DRIFT006): its distribution cannot be compared"
            )
        else:
            warnings.append(
                f"column {name!r} has no values in the {side} data (all missing): its "
                "distribution cannot be compared; only its missing rate is"
            )
        return moments
    binned = _numeric_bins(ref, cur, warnings)
    if binned is None:
        warnings.append(f"column {name!r}: the profiles carry neither bins nor sketches to compare")
        return moments
    return replace(moments, shift=_numeric_shift(ref, cur, exact, binned))


def _sketch_error(summary_sketch: bytes | None, k: int) -> float:
    if summary_sketch is None:
        return math.nan
    import datasketches  # profiles merged from different edges only

    return float(datasketches.kll_doubles_sketch.get_normalized_rank_error(k, True))


_Bins = tuple[np.ndarray, np.ndarray, tuple[float, ...], tuple[float, ...], float]


def _numeric_bins(ref: ColumnProfile, cur: ColumnProfile, warnings: list[str]) -> _Bins | None:
    """(ref counts, cur counts, edges, psi edges, extra CDF error) on the reference's edges.

    Exact when both profiles hold counts on the same edges; otherwise the missing side's
    shares come from its KLL sketch, and the sketch's rank error is returned so bounds widen.
    """
    r, c = ref.numeric, cur.numeric
    assert r is not None and c is not None
    extra = 0.0
    if r.binning is not None:
        edges, psi_edges = r.binning.edges, r.binning.psi_edges
        ref_counts = np.asarray(r.binning.counts, dtype=np.float64)
    else:
        sketch = r.kll()
        if sketch is None or r.minimum is None or r.maximum is None:
            return None
        edges, psi_edges = kll_edges(sketch, r.minimum, r.maximum)
        ref_counts = np.asarray(sketch.get_pmf(list(edges), True), dtype=np.float64) * r.count
        extra += _sketch_error(r.sketch, r.sketch_k)
        warnings.append(
            f"column {ref.name!r}: the reference profile has no bin counts (merged from "
            "profiles with different edges); bins come from its KLL sketch, so PSI and KS are "
            "approximate"
        )
    if c.binning is not None and c.binning.edges == edges:
        cur_counts = np.asarray(c.binning.counts, dtype=np.float64)
    else:
        sketch = c.kll()
        if sketch is None:
            return None
        cur_counts = np.asarray(sketch.get_pmf(list(edges), True), dtype=np.float64) * c.count
        extra += _sketch_error(c.sketch, c.sketch_k)
        warnings.append(
            f"column {ref.name!r}: the current profile was not binned on the reference's edges; "
            "its shares come from its KLL sketch, so PSI and KS are approximate"
        )
    return ref_counts, cur_counts, edges, psi_edges, extra


def _numeric_shift(
    ref: ColumnProfile, cur: ColumnProfile, exact: ExactResult | None, binned: _Bins
) -> NumericShift:
    r, c = ref.numeric, cur.numeric
    assert r is not None and c is not None
    ref_counts, cur_counts, edges, psi_edges, extra = binned
    edge_array = np.asarray(edges)
    coarse_index = np.searchsorted(
        np.asarray(psi_edges), np.append(edge_array, np.inf), side="left"
    )
    ref_psi = np.bincount(coarse_index, weights=ref_counts, minlength=len(psi_edges) + 1)
    cur_psi = np.bincount(coarse_index, weights=cur_counts, minlength=len(psi_edges) + 1)
    # values outside the reference range sit in the first and last bins by construction
    outside = int(round(cur_counts[0] + cur_counts[-1]))
    oor = stats.out_of_range_test(outside, c.count, r.count)
    std = math.sqrt(r.variance) if r.variance else 0.0
    w_lower = w_upper = ks_bins = None
    if exact is not None:
        ks = lower = upper = float(exact.ks_statistic)
        wasserstein = float(exact.wasserstein)
    else:
        lower, upper = stats.ks_from_ecdf_bins(ref_counts, cur_counts, edges)
        lower, upper = max(0.0, float(lower) - extra), min(1.0, float(upper) + extra)
        # the lower bound is what the data proves; using it keeps the p-value conservative
        ks, ks_bins = lower, len(edges) + 1
        lo_all = min(r.minimum or 0.0, c.minimum or 0.0, edges[0])
        hi_all = max(r.maximum or 0.0, c.maximum or 0.0, edges[-1])
        bounds = np.concatenate(([lo_all], edge_array, [hi_all]))
        w, w_lo, w_hi = stats.wasserstein_from_bins(ref_counts, cur_counts, bounds)
        wasserstein, w_lower, w_upper = float(w), float(w_lo), float(w_hi)
    return NumericShift(
        psi=float(stats.psi(ref_psi, cur_psi)),
        psi_bins=len(psi_edges) + 1,
        psi_edges=tuple(float(e) for e in psi_edges),
        out_of_range_share=float(oor.statistic),
        out_of_range_count=outside,
        out_of_range_p=float(oor.p_value),
        ks_statistic=ks,
        ks_exact=exact is not None,
        ks_lower=lower,
        ks_upper=upper,
        ks_bins=ks_bins,
        ks_p=float(stats.ks_pvalue(ks, r.count, c.count)),
        wasserstein=wasserstein,
        wasserstein_exact=exact is not None,
        wasserstein_lower=w_lower,
        wasserstein_upper=w_upper,
        wasserstein_std=(wasserstein / std if std > 0 else (0.0 if wasserstein == 0 else math.inf)),
        histogram=Histogram(
            labels=_bin_labels(psi_edges),
            reference=tuple(float(x) for x in ref_psi / ref_psi.sum()),
            current=tuple(float(x) for x in cur_psi / cur_psi.sum()),
        ),
    )


def _bin_labels(psi_edges: Sequence[float]) -> tuple[str, ...]:
    if not psi_edges:
        return ("all",)
    labels = [f"<= {psi_edges[0]:.4g}"]
    labels += [f"({a:.4g}, {b:.4g}]" for a, b in zip(psi_edges[:-1], psi_edges[1:], strict=True)]
    labels.append(f"> {psi_edges[-1]:.4g}")
    return tuple(labels)


# -- categorical -----------------------------------------------------------------------------


def _categorical(
    ref: ColumnProfile, cur: ColumnProfile, warnings: list[str], remarks: list[str]
) -> CategoricalStats:
    r, c = ref.categorical, cur.categorical
    assert r is not None and c is not None
    name = ref.name
    n_r, n_c = ref.present, cur.present
    normal = normalise_pair(r.counts, c.counts, reference_dtype=ref.dtype, current_dtype=cur.dtype)
    ref_counts_by, cur_counts_by = normal.reference, normal.current
    if normal.merged:
        spelled = ", ".join(f"{a!r} = {b!r}" for a, b, _ in normal.merged[:5])
        more = f" and {len(normal.merged) - 5} more" if len(normal.merged) > 5 else ""
        remarks.append(
            f"column {name!r}: values spelled differently in the two datasets were "
            f"compared as one category after normalising booleans, numbers and whitespace "
            f"(reference = current: {spelled}{more}); if the model's encoder matches raw strings, "
            "these rows are unseen categories to it"
        )
    error_bound = None
    if not (r.exact and c.exact):
        error_bound = max(r.error_bound(), c.error_bound())
        warnings.append(
            f"column {name!r} has more than the exact-count cap of categories; counts come "
            f"from a frequent-items sketch (each within {error_bound} rows)"
        )
    counts = CategoricalStats(
        n_reference=n_r,
        n_current=n_c,
        categories_reference=len(ref_counts_by),
        categories_current=len(cur_counts_by),
        counts_error_bound=error_bound,
        encoding_mismatch=False,
        shift=None,
    )
    if n_r == 0 or n_c == 0:
        side = "reference" if n_r == 0 else "current"
        warnings.append(
            f"column {name!r} has no values in the {side} data (all missing): its "
            "categories cannot be compared; only its missing rate is"
        )
        return counts
    mismatch = encoding_mismatch(name, ref_counts_by, cur_counts_by)
    if mismatch is not None:
        warnings.append(mismatch)
        return replace(counts, encoding_mismatch=True)
    return replace(counts, shift=_category_shift(ref_counts_by, cur_counts_by, n_r, n_c))


def _category_shift(
    ref_counts_by: Mapping[str, int], cur_counts_by: Mapping[str, int], n_r: int, n_c: int
) -> CategoryShift:
    categories = sorted(
        set(ref_counts_by) | set(cur_counts_by),
        key=lambda k: (-(ref_counts_by.get(k, 0) + cur_counts_by.get(k, 0)), k),
    )
    ref_counts = [ref_counts_by.get(k, 0) for k in categories]
    cur_counts = [cur_counts_by.get(k, 0) for k in categories]
    chi2 = stats.chi2_homogeneity(ref_counts, cur_counts)
    new = {
        k: cur_counts_by[k]
        for k in categories
        if ref_counts_by.get(k, 0) == 0 and cur_counts_by.get(k, 0) > 0
    }
    gone = {
        k: ref_counts_by[k]
        for k in categories
        if cur_counts_by.get(k, 0) == 0 and ref_counts_by.get(k, 0) > 0
    }
    new_total, gone_total = sum(new.values()), sum(gone.values())
    shown = categories[:MAX_PLOT_CATEGORIES]
    return CategoryShift(
        chi2=float(chi2.statistic),
        chi2_p=float(chi2.p_value),
        chi2_dof=max(0, len(categories) - 1),
        jensen_shannon=float(stats.jensen_shannon(ref_counts, cur_counts)),
        new_categories={k: n / n_c for k, n in new.items()},
        vanished_categories={k: n / n_r for k, n in gone.items()},
        new_share=new_total / n_c,
        vanished_share=gone_total / n_r,
        new_p=(float(stats.two_proportion_test(0, n_r, new_total, n_c).p_value) if new else None),
        vanished_p=(
            float(stats.two_proportion_test(gone_total, n_r, 0, n_c).p_value) if gone else None
        ),
        histogram=Histogram(
            labels=tuple(shown),
            reference=tuple(ref_counts_by.get(k, 0) / n_r for k in shown),
            current=tuple(cur_counts_by.get(k, 0) / n_c for k in shown),
        ),
    )


__all__ = ["ExactResult", "observe"]
