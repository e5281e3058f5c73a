"""DRIFT005 missing-rate-change: the share of missing values (NULL, NaN, +-inf) in a column "
"changed."""

from __future__ import annotations

from collections.abc import Iterable

from infermedic.drift.observations import DriftObservations, TestKey
from infermedic.drift.rules.base import (
    DriftRule,
    json_safe,
    location,
    p_text,
    role_text,
    samples_text,
    significant,
)
from infermedic.model import Evidence, EvidenceKind, Finding, Severity


class MissingRateChange(DriftRule):
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

    def check(self, observations: DriftObservations) -> Iterable[Finding]:
        options = observations.options
        for column in observations.columns:
            missing = column.missing
            delta = missing.share_current - missing.share_reference
            if not (
                significant(observations, column.name, TestKey.MISSING)
                and abs(delta) >= options.missing_rate_threshold
            ):
                continue
            adjusted = observations.adjusted_p(column.name, TestKey.MISSING)
            samples = samples_text(
                observations, column, missing.rows_reference, missing.rows_current
            )
            yield self.finding(
                location(observations, column),
                f"{column.name}{role_text(column)} missing rate {missing.share_reference:.2%} -> "
                f"{missing.share_current:.2%}",
                evidence=(
                    Evidence(
                        kind=EvidenceKind.STATISTIC,
                        action=f"two-proportion z-test on missing (NULL/NaN) shares of {samples}",
                        observed=f"{missing.missing_reference} -> {missing.missing_current} "
                        f"missing; {p_text(missing.p_value, adjusted, options.correction)}",
                        values=json_safe(
                            {
                                "missing_reference": missing.share_reference,
                                "missing_current": missing.share_current,
                                "p": missing.p_value,
                                "p_adjusted": adjusted,
                            }
                        ),
                    ),
                ),
                fingerprint_key=f"{self.code}:{column.name}",
            )
