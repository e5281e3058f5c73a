"""DRIFT001 feature-distribution-shift: a feature's distribution in current data differs from the "
"reference by more than the effect floor."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from infermedic.drift.observations import ColumnStats, DriftObservations, TestKey
from infermedic.drift.rules.base import (
    DriftRule,
    fmt,
    json_safe,
    location,
    p_text,
    role_text,
    samples_text,
    significant,
)
from infermedic.model import Evidence, EvidenceKind, Finding, Severity

HIGH_PSI = 0.25  # a PSI this large is a major shift by the usual reading: high severity


class FeatureDistributionShift(DriftRule):
    """## What it does
    Checks for numeric and categorical input features whose current distribution differs
    from the reference distribution by a statistically significant and practically large amount.

    ## Why is this bad?
    A model is only validated on the distribution it was trained and tested on. When inputs
    move, predictions degrade without any error or latency signal: the service keeps answering
    200 OK with worse answers, and the first sign is often a business metric weeks later.

    ## How it's measured
    Numeric columns: the two-sample Kolmogorov-Smirnov test (exact D from the merged ECDF of all
    finite values, p-value as `scipy.stats.ks_2samp`; or, from a saved profile, D bounded by
    counts in ~1000 reference-quantile bins, the bound stated), PSI over 10 reference-quantile
    bins (edges: the reference's KLL-sketch deciles; open outer bins; tied edges merged; empty
    bins floored at 1e-4) and the 1-Wasserstein distance divided by the reference standard
    deviation. Categorical columns: the 2xK homogeneity chi-square (not the goodness-of-fit
    form, which false-alarms at large n) and the Jensen-Shannon distance (base 2).
    Missing values (NULL, NaN, +-inf) are left out here and tested by DRIFT005.

    A column is flagged when its test's p-value, adjusted across all tests of the run
    (Benjamini-Hochberg by default), is below `alpha` (0.05) AND its effect reaches a floor:
    PSI >= 0.1 or Wasserstein/std >= 0.05 for numeric columns, JS >= 0.05 for categorical
    ones. Severity is high when PSI >= 0.25. With fewer than 100 rows on either side a
    notification says the test has little power.

    ## Options
    - `alpha`, `correction` (`bh` or `bonferroni`), `psi-threshold`, `wasserstein-threshold`,
      `js-threshold`, `exact-ks`, `exact-ks-max-rows` in `[tool.infermedic.drift]` or as flags.
    """

    code = "DRIFT001"
    name = "feature-distribution-shift"
    severity = Severity.MEDIUM
    summary = (
        "A feature's distribution in current data differs from the reference by more than the "
        "effect floor."
    )
    fix = (
        "Find what changed upstream (a new client, a pipeline or unit change, a seasonal shift); "
        "if the new distribution is legitimate, retrain or re-weight on recent data and refresh "
        "the reference profile."
    )
    risk = (
        "The model sees inputs unlike its training data; accuracy can drop silently while latency "
        "and error rates stay green."
    )
    checklist = ()

    def check(self, observations: DriftObservations) -> Iterable[Finding]:
        for column in observations.columns:
            if not column.is_output:
                yield from distribution_shift(self, observations, column)


def distribution_shift(
    rule: DriftRule, observations: DriftObservations, column: ColumnStats
) -> Iterator[Finding]:
    """A finding when the column's distribution test passes `alpha` after the correction
    AND its effect reaches its floor (PSI or Wasserstein/sd; Jensen-Shannon for categories).
    DRIFT002 judges model outputs the same way."""
    if not significant(observations, column.name, TestKey.DISTRIBUTION):
        return
    options = observations.options
    adjusted = observations.adjusted_p(column.name, TestKey.DISTRIBUTION)
    if column.numeric is not None and column.numeric.shift is not None:
        numeric, shift = column.numeric, column.numeric.shift
        # written as "reaches a floor" so that a NaN effect never passes
        if not (
            shift.psi >= options.psi_threshold
            or shift.wasserstein_std >= options.wasserstein_threshold
        ):
            return
        ks_kind = (
            "exact"
            if shift.ks_exact
            else f"bounded in [{fmt(shift.ks_lower)}, {fmt(shift.ks_upper)}] by "
            f"{shift.ks_bins} reference-quantile bins"
        )
        evidence = Evidence(
            kind=EvidenceKind.STATISTIC,
            action="KS two-sample on "
            + samples_text(observations, column, numeric.n_reference, numeric.n_current),
            observed=(
                f"D={fmt(shift.ks_statistic)} ({ks_kind}), "
                f"{p_text(shift.ks_p, adjusted, options.correction)}; "
                f"PSI={fmt(shift.psi)} ({shift.psi_bins} reference-quantile bins); "
                f"Wasserstein={fmt(shift.wasserstein)} ({fmt(shift.wasserstein_std)} reference "
                f"sd); mean {fmt(numeric.mean_reference)} -> {fmt(numeric.mean_current)}"
            ),
            values=json_safe(
                {
                    "ks_statistic": shift.ks_statistic,
                    "ks_p": shift.ks_p,
                    "psi": shift.psi,
                    "wasserstein": shift.wasserstein,
                    "wasserstein_std": shift.wasserstein_std,
                    "mean_reference": numeric.mean_reference,
                    "mean_current": numeric.mean_current,
                    "std_reference": numeric.std_reference,
                    "std_current": numeric.std_current,
                    "p_adjusted": adjusted,
                }
            ),
        )
        yield rule.finding(
            location(observations, column),
            f"{column.name}{role_text(column)} distribution shifted: PSI {fmt(shift.psi)}, "
            f"KS D {fmt(shift.ks_statistic)}, mean {fmt(numeric.mean_reference)} -> "
            f"{fmt(numeric.mean_current)}",
            evidence=(evidence,),
            severity=Severity.HIGH if shift.psi >= HIGH_PSI else rule.severity,
            fingerprint_key=f"{rule.code}:{column.name}",
        )
    elif column.categorical is not None and column.categorical.shift is not None:
        categorical, cats = column.categorical, column.categorical.shift
        if not cats.jensen_shannon >= options.js_threshold:
            return
        samples = samples_text(observations, column, categorical.n_reference, categorical.n_current)
        evidence = Evidence(
            kind=EvidenceKind.STATISTIC,
            action=f"chi-square homogeneity (2x{cats.chi2_dof + 1}) on {samples}",
            observed=(
                f"chi2={fmt(cats.chi2)}, dof={cats.chi2_dof}, "
                f"{p_text(cats.chi2_p, adjusted, options.correction)}; "
                f"Jensen-Shannon={fmt(cats.jensen_shannon)}"
            ),
            values=json_safe(
                {
                    "chi2": cats.chi2,
                    "chi2_p": cats.chi2_p,
                    "p_adjusted": adjusted,
                    "jensen_shannon": cats.jensen_shannon,
                }
            ),
        )
        yield rule.finding(
            location(observations, column),
            f"{column.name}{role_text(column)} category mix shifted: Jensen-Shannon "
            f"{fmt(cats.jensen_shannon)}",
            evidence=(evidence,),
            fingerprint_key=f"{rule.code}:{column.name}",
        )
