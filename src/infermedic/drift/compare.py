"""Compare two drift profiles (plus exact tests where the engine ran them) into a `Report`.

This module knows nothing of engines: it reads `DatasetProfile`s and, optionally, exact
two-sample results per numeric column, runs the tests in `stats`, corrects the p-values
across all tests of the run, and turns what passes both the p-value and the effect-size floor
into findings with evidence, a table sorted by effect size and a plot per drifted column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasketches
import numpy as np

from infermedic.drift import stats
from infermedic.drift.categories import encoding_mismatch, normalise_pair
from infermedic.drift.options import Correction, DriftOptions
from infermedic.drift.profile import (
    PSI_BINS,
    ColumnKind,
    ColumnProfile,
    DatasetProfile,
    kll_edges,
)
from infermedic.drift.rules.feature_distribution_shift import FeatureDistributionShift
from infermedic.drift.rules.missing_rate_change import MissingRateChange
from infermedic.drift.rules.new_category import NewCategory
from infermedic.drift.rules.out_of_range_values import OutOfRangeValues
from infermedic.drift.rules.prediction_distribution_shift import PredictionDistributionShift
from infermedic.drift.rules.vanished_category import VanishedCategory
from infermedic.drift.schema import schema_findings
from infermedic.model import (
    Evidence,
    EvidenceKind,
    Finding,
    Location,
    Notification,
    NotificationLevel,
    Plot,
    Series,
    Severity,
    Table,
)

PSI_DEFINITION = (
    "PSI = sum((cur - ref) * ln(cur / ref)) over 10 reference-quantile bins: edges at the "
    "reference's deciles (from its KLL sketch), bins right-closed (a, b], the outer bins open "
    "to -inf/+inf, tied edges merged (fewer bins), shares of empty bins floored at 1e-4; "
    "missing values left out"
)


@dataclass(frozen=True, kw_only=True)
class ExactResult:
    """Exact KS D and Wasserstein distance for one numeric column, from raw data."""

    ks_statistic: float
    wasserstein: float


@dataclass(kw_only=True)
class _Test:
    """One p-value of the run; `adjusted` is filled in after the correction."""

    key: str
    p_value: float
    adjusted: float = math.nan


@dataclass(kw_only=True)
class _Column:
    name: str
    role: str  # feature | prediction | target
    kind: ColumnKind
    ref: ColumnProfile
    cur: ColumnProfile
    tests: dict[str, _Test] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    plot: tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]] | None = None
    notes: list[str] = field(default_factory=list)  # warnings
    remarks: list[str] = field(default_factory=list)  # notes


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """What a comparison produced, before it is wrapped into a `Report`."""

    findings: tuple[Finding, ...]
    notifications: tuple[Notification, ...]
    tables: tuple[Table, ...]
    plots: tuple[Plot, ...]
    measurements: Mapping[str, Any]


def compare_profiles(
    reference: DatasetProfile,
    current: DatasetProfile,
    *,
    options: DriftOptions,
    predictions: Sequence[str] = (),
    targets: Sequence[str] = (),
    exact: Mapping[str, ExactResult] | None = None,
    reference_label: str | None = None,
    current_label: str | None = None,
) -> Comparison:
    ref_label = reference_label or reference.label
    cur_label = current_label or current.label
    exact = exact or {}
    notifications: list[Notification] = []
    findings: list[Finding] = []
    current_names = {c.name for c in current.columns}
    absent_targets = sorted(
        t for t in targets if t in {c.name for c in reference.columns} - current_names
    )
    # Labels arrive after predictions: a target missing from production data is expected,
    # not a schema change. Say so, and compare what is there.
    notifications.extend(
        Notification(
            level=NotificationLevel.NOTE,
            message=f"target {name!r} is not in the current data (labels not joined yet): "
            "no target drift computed",
        )
        for name in absent_targets
    )
    reference_names = {c.name for c in reference.columns}
    notifications.extend(
        Notification(
            level=NotificationLevel.WARNING,
            message=f"target {name!r} is in neither dataset: check the column name",
        )
        for name in targets
        if name not in reference_names and name not in current_names
    )
    schema, schema_notes = schema_findings(
        reference, current, ref_label, cur_label, expected_absent=set(absent_targets)
    )
    findings += schema
    notifications.extend(
        Notification(level=NotificationLevel.NOTE, message=note) for note in schema_notes
    )
    for name, reason in sorted({**reference.excluded, **current.excluded}.items()):
        notifications.append(
            Notification(
                level=NotificationLevel.NOTE, message=f"column {name!r} not compared: {reason}"
            )
        )
    for label, profile in ((ref_label, reference), (cur_label, current)):
        if profile.rows < options.min_rows:
            notifications.append(
                Notification(
                    level=NotificationLevel.WARNING,
                    message=(
                        f"{label} has only {profile.rows} rows (< {options.min_rows}): the tests "
                        "have "
                        "little power, so 'no drift' here means 'not enough data to tell'"
                    ),
                )
            )
    columns: list[_Column] = []
    for ref_col in reference.columns:
        cur_col = current.column(ref_col.name)
        if cur_col is None or cur_col.kind is not ref_col.kind:
            continue
        role = (
            "prediction"
            if ref_col.name in predictions
            else "target"
            if ref_col.name in targets
            else "feature"
        )
        column = _Column(name=ref_col.name, role=role, kind=ref_col.kind, ref=ref_col, cur=cur_col)
        if ref_col.kind is ColumnKind.NUMERIC:
            _numeric_tests(column, exact.get(ref_col.name))
        else:
            _categorical_tests(column)
        _missing_test(column)
        columns.append(column)
        notifications.extend(
            Notification(level=NotificationLevel.WARNING, message=note, rule=None)
            for note in column.notes
        )
        notifications.extend(
            Notification(level=NotificationLevel.NOTE, message=note) for note in column.remarks
        )
    if not columns:
        notifications.append(
            Notification(
                level=NotificationLevel.ERROR,
                message="no column could be compared: the datasets share no comparable column",
            )
        )
    all_tests = [t for c in columns for t in c.tests.values()]
    adjusted = stats.adjust_pvalues([t.p_value for t in all_tests], options.correction.value)
    for test, value in zip(all_tests, adjusted, strict=True):
        test.adjusted = value
    plots: list[Plot] = []
    for column in columns:
        new = _column_findings(column, options, ref_label, cur_label)
        findings += new
        if column.plot is not None and any(
            f.code in {"DRIFT001", "DRIFT002", "DRIFT003", "DRIFT004", "DRIFT007"} for f in new
        ):
            labels, ref_share, cur_share = column.plot
            plots.append(
                Plot(
                    title=f"{column.name}: reference vs current",
                    kind="bar",
                    x_label="reference-quantile bin"
                    if column.kind is ColumnKind.NUMERIC
                    else "category",
                    y_label="share of rows",
                    series=(
                        Series(name=f"reference ({ref_label})", x=labels, y=ref_share),
                        Series(name=f"current ({cur_label})", x=labels, y=cur_share),
                    ),
                    key=f"drift-hist-{column.name}",
                )
            )
    table = _table(columns, options)
    measurements = {
        "definitions": {
            "psi": PSI_DEFINITION,
            "ks": "two-sample Kolmogorov-Smirnov, two-sided; p-value as "
            "scipy.stats.ks_2samp(method='auto')",
            "wasserstein": "1-Wasserstein distance between the empirical distributions, also "
            "divided by the reference standard deviation",
            "chi2": "2xK homogeneity chi-square (scipy.stats.chi2_contingency, no continuity "
            "correction)",
            "jensen_shannon": "Jensen-Shannon distance, base 2 (0..1)",
            "missing": "NULL, NaN and +-inf are missing; pooled two-proportion z-test",
            "correction": options.correction.value,
            "decision": "adjusted p < alpha AND effect >= its floor",
        },
        "options": {
            "alpha": options.alpha,
            "correction": options.correction.value,
            "psi_threshold": options.psi_threshold,
            "wasserstein_threshold": options.wasserstein_threshold,
            "js_threshold": options.js_threshold,
            "category_share_threshold": options.category_share_threshold,
            "missing_rate_threshold": options.missing_rate_threshold,
            "out_of_range_threshold": options.out_of_range_threshold,
        },
        "reference": {
            "label": ref_label,
            "rows": reference.rows,
            "sources": list(reference.sources),
        },
        "current": {"label": cur_label, "rows": current.rows, "sources": list(current.sources)},
        "tests": len(all_tests),
        "columns": {
            c.name: {
                "role": c.role,
                "kind": c.kind.value,
                **_clean(c.values),
                "tests": {
                    k: {"p": t.p_value, "p_adjusted": t.adjusted} for k, t in c.tests.items()
                },
            }
            for c in columns
        },
    }
    return Comparison(
        findings=tuple(findings),
        notifications=tuple(notifications),
        tables=(table,),
        plots=tuple(plots),
        measurements=measurements,
    )


# -- numeric ---------------------------------------------------------------------------------


def _sketch_error(summary_sketch: bytes | None, k: int) -> float:
    if summary_sketch is None:
        return math.nan
    return float(datasketches.kll_doubles_sketch.get_normalized_rank_error(k, True))


def _numeric_bins(
    column: _Column,
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], tuple[float, ...], float] | None:
    """(ref counts, cur counts, edges, psi edges, extra CDF error) on the reference's edges.

    Exact when both profiles hold counts on the same edges; otherwise the missing side's
    shares come from its KLL sketch, and the sketch's rank error is returned so bounds widen.
    """
    r, c = column.ref.numeric, column.cur.numeric
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
        column.notes.append(
            f"column {column.name!r}: the reference profile has no bin counts (merged from "
            "profiles "
            "with different edges); bins come from its KLL sketch, so PSI and KS are approximate"
        )
    if c.binning is not None and c.binning.edges == edges:
        cur_counts = np.asarray(c.binning.counts, dtype=np.float64)
    else:
        sketch = c.kll()
        if sketch is None:
            return None
        cur_counts = np.asarray(sketch.get_pmf(list(edges), True), dtype=np.float64) * c.count
        extra += _sketch_error(c.sketch, c.sketch_k)
        column.notes.append(
            f"column {column.name!r}: the current profile was not binned on the reference's edges; "
            "its shares come from its KLL sketch, so PSI and KS are approximate"
        )
    return ref_counts, cur_counts, edges, psi_edges, extra


def _numeric_tests(column: _Column, exact: ExactResult | None) -> None:
    r, c = column.ref.numeric, column.cur.numeric
    assert r is not None and c is not None
    v = column.values
    v.update(
        n_reference=r.count,
        n_current=c.count,
        mean_reference=r.mean,
        mean_current=c.mean,
        std_reference=None if r.variance is None else math.sqrt(r.variance),
        std_current=None if c.variance is None else math.sqrt(c.variance),
        min_reference=r.minimum,
        max_reference=r.maximum,
        min_current=c.minimum,
        max_current=c.maximum,
    )
    if r.count == 0 or c.count == 0:
        side = "reference" if r.count == 0 else "current"
        text = column.ref.unparsed if r.count == 0 else column.cur.unparsed
        if text:
            column.notes.append(
                f"column {column.name!r} holds no numbers in the {side} data ({text} values "
                "are text, see DRIFT006): its distribution cannot be compared"
            )
            return
        column.notes.append(
            f"column {column.name!r} has no values in the {side} data (all missing): its "
            "distribution "
            "cannot be compared; only its missing rate is"
        )
        return
    binned = _numeric_bins(column)
    if binned is None:
        column.notes.append(
            f"column {column.name!r}: the profiles carry neither bins nor sketches to compare"
        )
        return
    ref_counts, cur_counts, edges, psi_edges, extra = binned
    edge_array = np.asarray(edges)
    coarse_index = np.searchsorted(
        np.asarray(psi_edges), np.append(edge_array, np.inf), side="left"
    )
    ref_psi = np.bincount(coarse_index, weights=ref_counts, minlength=len(psi_edges) + 1)
    cur_psi = np.bincount(coarse_index, weights=cur_counts, minlength=len(psi_edges) + 1)
    v["psi"] = stats.psi(ref_psi, cur_psi)
    v["psi_bins"] = len(psi_edges) + 1
    v["psi_edges"] = list(psi_edges)
    # values outside the reference range sit in the first and last bins by construction
    outside = int(round(cur_counts[0] + cur_counts[-1]))
    oor = stats.out_of_range_test(outside, c.count, r.count)
    v["out_of_range_share"] = oor.statistic
    v["out_of_range_count"] = outside
    column.tests["out_of_range"] = _Test(key="out_of_range", p_value=oor.p_value)
    std = math.sqrt(r.variance) if r.variance else 0.0
    if exact is not None:
        d = exact.ks_statistic
        v.update(ks_statistic=d, ks_exact=True, ks_lower=d, ks_upper=d)
        v.update(wasserstein=exact.wasserstein, wasserstein_exact=True)
        ks_p = stats.ks_pvalue(d, r.count, c.count)
    else:
        lower, upper = stats.ks_from_ecdf_bins(ref_counts, cur_counts, edges)
        lower, upper = max(0.0, lower - extra), min(1.0, upper + extra)
        # the lower bound is what the data proves; using it keeps the p-value conservative
        v.update(
            ks_statistic=lower,
            ks_exact=False,
            ks_lower=lower,
            ks_upper=upper,
            ks_bins=len(edges) + 1,
        )
        ks_p = stats.ks_pvalue(lower, r.count, c.count)
        lo_all = min(r.minimum or 0.0, c.minimum or 0.0, edges[0])
        hi_all = max(r.maximum or 0.0, c.maximum or 0.0, edges[-1])
        bounds = np.concatenate(([lo_all], edge_array, [hi_all]))
        w, w_lo, w_hi = stats.wasserstein_from_bins(ref_counts, cur_counts, bounds)
        v.update(
            wasserstein=w, wasserstein_exact=False, wasserstein_lower=w_lo, wasserstein_upper=w_hi
        )
    v["ks_p"] = ks_p
    w_value = float(v["wasserstein"])
    v["wasserstein_std"] = (w_value / std) if std > 0 else (0.0 if w_value == 0 else math.inf)
    column.tests["distribution"] = _Test(key="distribution", p_value=ks_p)
    ref_share = ref_psi / ref_psi.sum()
    cur_share = cur_psi / cur_psi.sum()
    column.plot = (
        _bin_labels(psi_edges),
        tuple(float(x) for x in ref_share),
        tuple(float(x) for x in cur_share),
    )


def _bin_labels(psi_edges: Sequence[float]) -> tuple[str, ...]:
    if not psi_edges:
        return ("all",)
    labels = [f"<= {psi_edges[0]:.4g}"]
    labels += [f"({a:.4g}, {b:.4g}]" for a, b in zip(psi_edges[:-1], psi_edges[1:], strict=True)]
    labels.append(f"> {psi_edges[-1]:.4g}")
    return tuple(labels)


# -- categorical -----------------------------------------------------------------------------


def _categorical_tests(column: _Column) -> None:
    r, c = column.ref.categorical, column.cur.categorical
    assert r is not None and c is not None
    n_r, n_c = column.ref.present, column.cur.present
    normal = normalise_pair(
        r.counts, c.counts, reference_dtype=column.ref.dtype, current_dtype=column.cur.dtype
    )
    ref_counts_by, cur_counts_by = normal.reference, normal.current
    v = column.values
    v.update(
        n_reference=n_r,
        n_current=n_c,
        categories_reference=len(ref_counts_by),
        categories_current=len(cur_counts_by),
    )
    if normal.merged:
        spelled = ", ".join(f"{a!r} = {b!r}" for a, b, _ in normal.merged[:5])
        more = f" and {len(normal.merged) - 5} more" if len(normal.merged) > 5 else ""
        column.remarks.append(
            f"column {column.name!r}: values spelled differently in the two datasets were "
            f"compared as one category after normalising booleans, numbers and whitespace "
            f"(reference = current: {spelled}{more}); if the model's encoder matches raw strings, "
            "these rows are unseen categories to it"
        )
    if not (r.exact and c.exact):
        v["counts_error_bound"] = max(r.error_bound(), c.error_bound())
        column.notes.append(
            f"column {column.name!r} has more than the exact-count cap of categories; counts come "
            "from "
            f"a frequent-items sketch (each within {v['counts_error_bound']} rows)"
        )
    if n_r == 0 or n_c == 0:
        side = "reference" if n_r == 0 else "current"
        column.notes.append(
            f"column {column.name!r} has no values in the {side} data (all missing): its "
            "categories "
            "cannot be compared; only its missing rate is"
        )
        return
    mismatch = encoding_mismatch(column.name, ref_counts_by, cur_counts_by)
    if mismatch is not None:
        v["encoding_mismatch"] = True
        column.notes.append(mismatch)
        return
    categories = sorted(
        set(ref_counts_by) | set(cur_counts_by),
        key=lambda k: (-(ref_counts_by.get(k, 0) + cur_counts_by.get(k, 0)), k),
    )
    ref_counts = [ref_counts_by.get(k, 0) for k in categories]
    cur_counts = [cur_counts_by.get(k, 0) for k in categories]
    chi2 = stats.chi2_homogeneity(ref_counts, cur_counts)
    v.update(chi2=chi2.statistic, chi2_p=chi2.p_value, chi2_dof=max(0, len(categories) - 1))
    v["jensen_shannon"] = stats.jensen_shannon(ref_counts, cur_counts)
    column.tests["distribution"] = _Test(key="distribution", p_value=chi2.p_value)
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
    v["new_categories"] = {k: n / n_c for k, n in new.items()}
    v["vanished_categories"] = {k: n / n_r for k, n in gone.items()}
    v["new_share"] = new_total / n_c
    v["vanished_share"] = gone_total / n_r
    if new:
        column.tests["new_categories"] = _Test(
            key="new_categories", p_value=stats.two_proportion_test(0, n_r, new_total, n_c).p_value
        )
    if gone:
        column.tests["vanished_categories"] = _Test(
            key="vanished_categories",
            p_value=stats.two_proportion_test(gone_total, n_r, 0, n_c).p_value,
        )
    v["chi2_p"] = chi2.p_value
    shown = categories[:20]
    column.plot = (
        tuple(shown),
        tuple(ref_counts_by.get(k, 0) / n_r for k in shown),
        tuple(cur_counts_by.get(k, 0) / n_c for k in shown),
    )


def _missing_test(column: _Column) -> None:
    r, c = column.ref, column.cur
    result = stats.two_proportion_test(r.missing, r.rows, c.missing, c.rows)
    column.values.update(
        missing_reference=r.missing / r.rows if r.rows else math.nan,
        missing_current=c.missing / c.rows if c.rows else math.nan,
    )
    column.tests["missing"] = _Test(key="missing", p_value=result.p_value)
    if r.rows and r.missing == r.rows:
        column.notes.append(f"column {column.name!r} is entirely missing in the reference data")


# -- findings --------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:.3g}"


def _significant(test: _Test | None, alpha: float) -> bool:
    return test is not None and not math.isnan(test.adjusted) and test.adjusted < alpha


def _p_text(test: _Test, correction: Correction) -> str:
    label = "BH-adjusted" if correction is Correction.BH else "Bonferroni-adjusted"
    return f"p={_fmt(test.p_value)} ({label} {_fmt(test.adjusted)})"


def _column_findings(
    column: _Column, options: DriftOptions, ref_label: str, cur_label: str
) -> list[Finding]:
    v = column.values
    out: list[Finding] = []
    loc = Location(dataset=cur_label, column_name=column.name)
    role_text = "" if column.role == "feature" else f" ({column.role})"
    dist = column.tests.get("distribution")
    n_text = (
        f"{ref_label}[{column.name}] (n={v.get('n_reference')}) "
        f"vs {cur_label}[{column.name}] (n={v.get('n_current')})"
    )
    rule: FeatureDistributionShift | PredictionDistributionShift = (
        FeatureDistributionShift() if column.role == "feature" else PredictionDistributionShift()
    )
    if dist is not None and _significant(dist, options.alpha):
        if column.kind is ColumnKind.NUMERIC:
            psi_value, w_std = float(v["psi"]), float(v["wasserstein_std"])
            if psi_value >= options.psi_threshold or w_std >= options.wasserstein_threshold:
                ks_kind = (
                    "exact"
                    if v.get("ks_exact")
                    else f"bounded in [{_fmt(v['ks_lower'])}, {_fmt(v['ks_upper'])}] by "
                    f"{v.get('ks_bins')} reference-quantile bins"
                )
                evidence = Evidence(
                    kind=EvidenceKind.STATISTIC,
                    action=f"KS two-sample on {n_text}",
                    observed=(
                        f"D={_fmt(v['ks_statistic'])} ({ks_kind}), "
                        f"{_p_text(dist, options.correction)}; "
                        f"PSI={_fmt(psi_value)} ({v['psi_bins']} reference-quantile bins); "
                        f"Wasserstein={_fmt(v['wasserstein'])} ({_fmt(w_std)} reference sd); "
                        f"mean {_fmt(v['mean_reference'])} -> {_fmt(v['mean_current'])}"
                    ),
                    values=_clean(
                        {
                            k: v[k]
                            for k in (
                                "ks_statistic",
                                "ks_p",
                                "psi",
                                "wasserstein",
                                "wasserstein_std",
                                "mean_reference",
                                "mean_current",
                                "std_reference",
                                "std_current",
                            )
                            if k in v
                        }
                        | {"p_adjusted": dist.adjusted}
                    ),
                )
                severity = (
                    Severity.HIGH
                    if psi_value >= 0.25 or column.role != "feature"
                    else rule.severity
                )
                out.append(
                    rule.finding(
                        loc,
                        f"{column.name}{role_text} distribution shifted: PSI {_fmt(psi_value)}, "
                        "KS D "
                        f"{_fmt(v['ks_statistic'])}, mean {_fmt(v['mean_reference'])} -> "
                        f"{_fmt(v['mean_current'])}",
                        evidence=(evidence,),
                        severity=severity,
                        fingerprint_key=f"{rule.code}:{column.name}",
                    )
                )
        else:
            js = float(v["jensen_shannon"])
            if js >= options.js_threshold:
                evidence = Evidence(
                    kind=EvidenceKind.STATISTIC,
                    action=f"chi-square homogeneity (2x{v['chi2_dof'] + 1}) on {n_text}",
                    observed=(
                        f"chi2={_fmt(v['chi2'])}, dof={v['chi2_dof']}, "
                        f"{_p_text(dist, options.correction)}; "
                        f"Jensen-Shannon={_fmt(js)}"
                    ),
                    values=_clean(
                        {
                            "chi2": v["chi2"],
                            "chi2_p": v["chi2_p"],
                            "p_adjusted": dist.adjusted,
                            "jensen_shannon": js,
                        }
                    ),
                )
                out.append(
                    rule.finding(
                        loc,
                        f"{column.name}{role_text} category mix shifted: Jensen-Shannon {_fmt(js)}",
                        evidence=(evidence,),
                        severity=Severity.HIGH if column.role != "feature" else rule.severity,
                        fingerprint_key=f"{rule.code}:{column.name}",
                    )
                )
    out += _category_findings(column, options, loc, n_text)
    missing = column.tests["missing"]
    delta = float(v["missing_current"]) - float(v["missing_reference"])
    if _significant(missing, options.alpha) and abs(delta) >= options.missing_rate_threshold:
        out.append(
            MissingRateChange().finding(
                loc,
                f"{column.name}{role_text} missing rate {v['missing_reference']:.2%} -> "
                f"{v['missing_current']:.2%}",
                evidence=(
                    Evidence(
                        kind=EvidenceKind.STATISTIC,
                        action=(
                            f"two-proportion z-test on missing (NULL/NaN) shares of "
                            f"{ref_label}[{column.name}] "
                            f"(n={column.ref.rows}) vs {cur_label}[{column.name}] "
                            f"(n={column.cur.rows})"
                        ),
                        observed=f"{column.ref.missing} -> {column.cur.missing} missing; "
                        f"{_p_text(missing, options.correction)}",
                        values=_clean(
                            {
                                "missing_reference": v["missing_reference"],
                                "missing_current": v["missing_current"],
                                "p": missing.p_value,
                                "p_adjusted": missing.adjusted,
                            }
                        ),
                    ),
                ),
                fingerprint_key=f"DRIFT005:{column.name}",
            )
        )
    oor = column.tests.get("out_of_range")
    if (
        oor is not None
        and _significant(oor, options.alpha)
        and float(v["out_of_range_share"]) >= options.out_of_range_threshold
    ):
        out.append(
            OutOfRangeValues().finding(
                loc,
                f"{column.name}{role_text}: {float(v['out_of_range_share']):.2%} of current "
                "values outside the "
                f"reference range [{_fmt(v['min_reference'])}, {_fmt(v['max_reference'])}]",
                evidence=(
                    Evidence(
                        kind=EvidenceKind.STATISTIC,
                        action=f"count of {cur_label}[{column.name}] values outside [min, max] of "
                        f"{ref_label}[{column.name}]",
                        observed=(
                            f"{v['out_of_range_count']} of {v['n_current']} outside (current range "
                            f"[{_fmt(v['min_current'])}, {_fmt(v['max_current'])}]); chance level "
                            "2/(n+1); "
                            f"binomial {_p_text(oor, options.correction)}"
                        ),
                        values=_clean(
                            {
                                "share": v["out_of_range_share"],
                                "count": v["out_of_range_count"],
                                "p": oor.p_value,
                                "p_adjusted": oor.adjusted,
                            }
                        ),
                    ),
                ),
                fingerprint_key=f"DRIFT007:{column.name}",
            )
        )
    return out


def _category_findings(
    column: _Column, options: DriftOptions, loc: Location, n_text: str
) -> list[Finding]:
    v = column.values
    out: list[Finding] = []
    for key, rule_cls, share_key, names_key, verb in (
        ("new_categories", NewCategory, "new_share", "new_categories", "new in current"),
        (
            "vanished_categories",
            VanishedCategory,
            "vanished_share",
            "vanished_categories",
            "gone from current",
        ),
    ):
        test = column.tests.get(key)
        if test is None or not _significant(test, options.alpha):
            continue
        share = float(v[share_key])
        if share < options.category_share_threshold:
            continue
        named: dict[str, float] = dict(sorted(v[names_key].items(), key=lambda kv: -kv[1]))
        listed = ", ".join(f"{k!r} ({s:.2%})" for k, s in list(named.items())[:10])
        more = f" and {len(named) - 10} more" if len(named) > 10 else ""
        base = "current" if key == "new_categories" else "reference"
        out.append(
            rule_cls().finding(
                loc,
                f"{column.name}: {len(named)} categor{'y' if len(named) == 1 else 'ies'} {verb}: "
                f"{listed}{more}",
                evidence=(
                    Evidence(
                        kind=EvidenceKind.STATISTIC,
                        action=f"category counts and two-proportion z-test on {n_text}",
                        observed=f"{share:.2%} of {base} rows; {_p_text(test, options.correction)}",
                        values=_clean(
                            {
                                "share": share,
                                "categories": named,
                                "p": test.p_value,
                                "p_adjusted": test.adjusted,
                            }
                        ),
                    ),
                ),
                fingerprint_key=f"{rule_cls.code}:{column.name}",
            )
        )
    return out


# -- table -----------------------------------------------------------------------------------


def _effect_ratio(column: _Column, options: DriftOptions) -> float:
    v = column.values
    if column.kind is ColumnKind.NUMERIC:
        ratios = [
            float(v.get("psi", 0.0)) / options.psi_threshold if options.psi_threshold else 0.0,
            float(v.get("wasserstein_std", 0.0)) / options.wasserstein_threshold
            if options.wasserstein_threshold
            else 0.0,
        ]
    else:
        js = v.get("jensen_shannon", 0.0)
        ratios = [
            float(js) / options.js_threshold if options.js_threshold and not math.isnan(js) else 0.0
        ]
    clean = [r for r in ratios if not math.isnan(r)]
    return max(clean) if clean else 0.0


def _table(columns: Sequence[_Column], options: DriftOptions) -> Table:
    rows: list[tuple[Any, ...]] = []
    for column in sorted(columns, key=lambda c: -_effect_ratio(c, options)):
        v = column.values
        dist = column.tests.get("distribution")
        if column.kind is ColumnKind.NUMERIC:
            test = "KS" + ("" if v.get("ks_exact", True) else " (binned)")
            statistic = v.get("ks_statistic")
            effect = f"PSI {_fmt(v.get('psi'))}, W/sd {_fmt(v.get('wasserstein_std'))}"
        else:
            test = "chi2"
            statistic = v.get("chi2")
            effect = f"JS {_fmt(v.get('jensen_shannon'))}"
        rows.append(
            (
                column.name,
                column.role,
                column.kind.value,
                test,
                _fmt(statistic),
                _fmt(dist.p_value) if dist else "n/a",
                _fmt(dist.adjusted) if dist else "n/a",
                effect,
                round(_effect_ratio(column, options), 3),
                f"{v['missing_reference']:.2%} -> {v['missing_current']:.2%}",
            )
        )
    return Table(
        title="Drift per column (sorted by effect size / its threshold)",
        columns=(
            "column",
            "role",
            "kind",
            "test",
            "statistic",
            "p",
            "p adjusted",
            "effect",
            "effect/threshold",
            "missing ref -> cur",
        ),
        rows=tuple(rows),
        key="drift-columns",
    )


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe values: numpy scalars to Python, non-finite floats to None."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        elif isinstance(value, Mapping):
            value = _clean(value)
        out[key] = value
    return out


__all__ = ["PSI_BINS", "Comparison", "ExactResult", "compare_profiles"]
