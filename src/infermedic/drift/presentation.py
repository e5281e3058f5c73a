"""What a drift report shows besides findings, drawn from the observations: the per-column
table (sorted by effect size over its threshold), a plot per drifted column, and the
measurements block (definitions, options, and every column's statistics and p-values)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from infermedic.drift.observations import ColumnStats, DriftObservations, Histogram, TestKey
from infermedic.drift.options import DriftOptions
from infermedic.drift.rules.base import fmt, json_safe
from infermedic.model import Finding, Plot, Series, Table

PSI_DEFINITION = (
    "PSI = sum((cur - ref) * ln(cur / ref)) over 10 reference-quantile bins: edges at the "
    "reference's deciles (exact where its raw values were sorted, as for Parquet columns; "
    "else from its KLL sketch), bins right-closed (a, b], the outer bins open "
    "to -inf/+inf, tied edges merged (fewer bins), shares of empty bins floored at 1e-4; "
    "missing values left out"
)
# findings about a column's distribution: the column gets a plot of both distributions
PLOTTED_CODES = frozenset({"DRIFT001", "DRIFT002", "DRIFT003", "DRIFT004", "DRIFT007"})


def column_values(column: ColumnStats) -> dict[str, Any]:
    """A column's statistics as the report's `measurements.columns` lists them."""
    values: dict[str, Any] = {}
    if column.numeric is not None:
        n = column.numeric
        values |= {
            "n_reference": n.n_reference,
            "n_current": n.n_current,
            "mean_reference": n.mean_reference,
            "mean_current": n.mean_current,
            "std_reference": n.std_reference,
            "std_current": n.std_current,
            "min_reference": n.min_reference,
            "max_reference": n.max_reference,
            "min_current": n.min_current,
            "max_current": n.max_current,
        }
        s = n.shift
        if s is not None:
            values |= {
                "psi": s.psi,
                "psi_bins": s.psi_bins,
                "psi_edges": list(s.psi_edges),
                "out_of_range_share": s.out_of_range_share,
                "out_of_range_count": s.out_of_range_count,
                "ks_statistic": s.ks_statistic,
                "ks_exact": s.ks_exact,
                "ks_lower": s.ks_lower,
                "ks_upper": s.ks_upper,
            }
            if s.ks_bins is not None:
                values["ks_bins"] = s.ks_bins
            values |= {"wasserstein": s.wasserstein, "wasserstein_exact": s.wasserstein_exact}
            if s.wasserstein_lower is not None:
                values["wasserstein_lower"] = s.wasserstein_lower
                values["wasserstein_upper"] = s.wasserstein_upper
            values |= {"ks_p": s.ks_p, "wasserstein_std": s.wasserstein_std}
    if column.categorical is not None:
        c = column.categorical
        values |= {
            "n_reference": c.n_reference,
            "n_current": c.n_current,
            "categories_reference": c.categories_reference,
            "categories_current": c.categories_current,
        }
        if c.counts_error_bound is not None:
            values["counts_error_bound"] = c.counts_error_bound
        if c.encoding_mismatch:
            values["encoding_mismatch"] = True
        if c.shift is not None:
            cats = c.shift
            values |= {
                "chi2": cats.chi2,
                "chi2_p": cats.chi2_p,
                "chi2_dof": cats.chi2_dof,
                "jensen_shannon": cats.jensen_shannon,
                "new_categories": dict(cats.new_categories),
                "vanished_categories": dict(cats.vanished_categories),
                "new_share": cats.new_share,
                "vanished_share": cats.vanished_share,
            }
    values |= {
        "missing_reference": column.missing.share_reference,
        "missing_current": column.missing.share_current,
    }
    return values


def drift_measurements(observations: DriftObservations) -> dict[str, Any]:
    options = observations.options
    reference, current = observations.reference, observations.current
    return {
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
            "label": reference.label,
            "rows": reference.rows,
            "sources": list(reference.sources),
        },
        "current": {"label": current.label, "rows": current.rows, "sources": list(current.sources)},
        "tests": observations.test_count,
        "columns": {
            c.name: {
                "role": c.role.value,
                "kind": c.kind,
                **json_safe(column_values(c)),
                "tests": {
                    key.value: {"p": p, "p_adjusted": observations.adjusted_p(c.name, key)}
                    for key, p in c.p_values()
                },
            }
            for c in observations.columns
        },
    }


# findings that say a feature column's data moved (schema changes are counted apart)
DRIFTED_CODES = frozenset({"DRIFT001", "DRIFT003", "DRIFT004", "DRIFT005", "DRIFT007"})


def drift_headline(
    observations: DriftObservations, findings: Iterable[Finding], *, complete: bool = True
) -> str:
    """The dataset-level verdict, one line: how many columns drifted (the worst named),
    whether the model's outputs shifted, and schema changes."""
    findings = list(findings)
    features = [c for c in observations.columns if not c.is_output]
    order = {c.name: i for i, c in enumerate(features)}
    effects = {c.name: _effect_ratio(c, observations.options) for c in features}
    named = {f.location.column_name or "" for f in findings if f.code in DRIFTED_CODES}
    drifted = sorted(named & set(order), key=lambda name: (-effects[name], order[name]))
    schema = sorted({f.location.column_name or "?" for f in findings if f.code == "DRIFT006"})
    outputs = sorted({f.location.column_name or "?" for f in findings if f.code == "DRIFT002"})
    parts = []
    if drifted:
        shown = ", ".join(drifted[:5])
        more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
        parts.append(f"{len(drifted)} of {len(features)} columns drifted ({shown}{more})")
    else:
        parts.append(f"no drift in {len(features)} columns")
    if outputs:
        parts.append(f"predictions shifted ({', '.join(outputs)})")
    elif any(c.is_output for c in observations.columns):
        parts.append("predictions stable")
    if schema:
        parts.append(f"schema changed in {len(schema)} column(s)")
    if not complete:
        parts.append("incomplete: a rule crashed (see notifications)")
    headline = "; ".join(parts)
    return headline[0].upper() + headline[1:]


# Small multiples after the drifted columns: enough stable ones to compare against, not a
# wall of 200 plots; every column stays in the table and in `measurements`.
MAX_STABLE_PLOTS = 6
MAX_DRIFTED_PLOTS = 40


@dataclass(frozen=True, kw_only=True, slots=True)
class DriftPlots:
    plots: tuple[Plot, ...]
    not_plotted: int  # columns with a distribution that got no plot (over the caps)


def drift_plots(observations: DriftObservations, findings: Iterable[Finding]) -> DriftPlots:
    """A small plot of both distributions per column, as Evidently's column view: the columns
    with a distribution finding first (largest effect first, up to `MAX_DRIFTED_PLOTS`), then
    the stable columns with the largest effect (up to `MAX_STABLE_PLOTS`)."""
    flagged = {f.location.column_name for f in findings if f.code in PLOTTED_CODES}
    position = {c.name: i for i, c in enumerate(observations.columns)}
    effect = {c.name: _effect_ratio(c, observations.options) for c in observations.columns}
    drawable = [c for c in observations.columns if _histogram(c) is not None]
    ordered = sorted(
        drawable, key=lambda c: (c.name not in flagged, -effect[c.name], position[c.name])
    )
    drifted = [c for c in ordered if c.name in flagged][:MAX_DRIFTED_PLOTS]
    stable = [c for c in ordered if c.name not in flagged][:MAX_STABLE_PLOTS]
    plots: list[Plot] = []
    for column in (*drifted, *stable):
        histogram = _histogram(column)
        assert histogram is not None  # drawable
        verdict = "drifted" if column.name in flagged else "no drift found"
        plots.append(
            Plot(
                title=f"{column.name}: {verdict}",
                kind="bar",
                x_label="reference-quantile bin" if column.kind == "numeric" else "category",
                y_label="share of rows",
                # the two datasets are named once, in the report's inputs: a path repeated
                # in every small multiple's legend would take more room than the bars
                series=(
                    Series(name="reference", x=histogram.labels, y=histogram.reference),
                    Series(name="current", x=histogram.labels, y=histogram.current),
                ),
                key=f"drift-hist-{column.name}",
                size="small",
            )
        )
    return DriftPlots(plots=tuple(plots), not_plotted=len(drawable) - len(plots))


def _histogram(column: ColumnStats) -> Histogram | None:
    if column.numeric is not None and column.numeric.shift is not None:
        return column.numeric.shift.histogram
    if column.categorical is not None and column.categorical.shift is not None:
        return column.categorical.shift.histogram
    return None


def _effect_ratio(column: ColumnStats, options: DriftOptions) -> float:
    if column.kind == "numeric":
        shift = column.numeric.shift if column.numeric is not None else None
        psi = shift.psi if shift is not None else 0.0
        w_std = shift.wasserstein_std if shift is not None else 0.0
        ratios = [
            psi / options.psi_threshold if options.psi_threshold else 0.0,
            w_std / options.wasserstein_threshold if options.wasserstein_threshold else 0.0,
        ]
    else:
        cats = column.categorical.shift if column.categorical is not None else None
        js = cats.jensen_shannon if cats is not None else 0.0
        ratios = [js / options.js_threshold if options.js_threshold and not math.isnan(js) else 0.0]
    clean = [r for r in ratios if not math.isnan(r)]
    return max(clean) if clean else 0.0


def drift_table(observations: DriftObservations) -> Table:
    options = observations.options
    rows: list[tuple[Any, ...]] = []
    for column in sorted(observations.columns, key=lambda c: -_effect_ratio(c, options)):
        p_value: float | None = None
        statistic: float | None = None
        numeric_shift = column.numeric.shift if column.numeric is not None else None
        category_shift = column.categorical.shift if column.categorical is not None else None
        if column.kind == "numeric":
            test = "KS" + ("" if numeric_shift is None or numeric_shift.ks_exact else " (binned)")
            if numeric_shift is not None:
                statistic, p_value = numeric_shift.ks_statistic, numeric_shift.ks_p
            effect = (
                f"PSI {fmt(numeric_shift.psi if numeric_shift else None)}, "
                f"W/sd {fmt(numeric_shift.wasserstein_std if numeric_shift else None)}"
            )
        else:
            test = "chi2"
            if category_shift is not None:
                statistic, p_value = category_shift.chi2, category_shift.chi2_p
            effect = f"JS {fmt(category_shift.jensen_shannon if category_shift else None)}"
        ran = p_value is not None
        rows.append(
            (
                column.name,
                column.role.value,
                column.kind,
                test,
                fmt(statistic),
                fmt(p_value) if ran else "n/a",
                fmt(observations.adjusted_p(column.name, TestKey.DISTRIBUTION)) if ran else "n/a",
                effect,
                round(_effect_ratio(column, options), 3),
                f"{column.missing.share_reference:.2%} -> {column.missing.share_current:.2%}",
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
