"""DRIFT001 feature-distribution-shift: a feature's distribution in current data differs from the "
"reference by more than the effect floor."""

from __future__ import annotations

from infermedic.model import Severity
from infermedic.rules import Rule


class FeatureDistributionShift(Rule):
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
    measured = True
