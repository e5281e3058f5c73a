"""DRIFT005 missing-rate-change: the share of missing values (NULL, NaN, +-inf) in a column "
"changed."""

from __future__ import annotations

from infermedic.model import Severity
from infermedic.rules import Rule


class MissingRateChange(Rule):
    """## What it does
    Checks for a change in the share of missing values of every compared column (NULL and
    NaN are both missing; so are infinities in numeric columns).

    ## Why is this bad?
    Distribution tests drop missing values, so a feature store that starts timing out (and
    the service that fills in a default) is invisible to them. The imputed value then drives
    a growing share of predictions.

    ## How it's measured
    Per column: missing rows / all rows in each dataset, compared with a pooled two-proportion
    z-test, adjusted with every other test of the run. Flagged when the adjusted p < `alpha`
    (0.05) and the absolute change >= `missing-rate-threshold` (0.01, one percentage point).
    A column missing entirely on one side is also reported as a notification.
    """

    code = "DRIFT005"
    name = "missing-rate-change"
    severity = Severity.MEDIUM
    summary = "The share of missing values (NULL, NaN, +-inf) in a column changed."
    fix = (
        "Trace the column to its producer (a failing feature lookup, a timeout falling back to "
        "null, a schema change in the client) and fix it there; if the model must tolerate it, "
        "train with the same missingness and impute the same way at serving."
    )
    risk = (
        "A jump in missing values usually means a failing upstream feature source; the imputed "
        "default then drives predictions."
    )
    checklist = ()
    measured = True
