"""DRIFT003 new-category: current data holds categories never seen in the reference."""

from __future__ import annotations

from collections.abc import Iterable

from infermedic.drift.observations import ColumnStats, DriftObservations, TestKey
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

LISTED = 10  # categories named in a message; the evidence holds them all


class NewCategory(DriftRule):
    """## What it does
    Checks for categorical values in the current data that do not occur in the reference,
    and names them with their shares.

    ## Why is this bad?
    Encoders fitted on the reference (one-hot, ordinal, target encoders) either fail on an
    unseen value or map it to a default that the model never learned from. Each such row gets
    a prediction that is effectively arbitrary, and a 2% slice of new values is easy to miss
    in a single drift score.

    ## How it's measured
    Per categorical column: the total share of current rows whose value is absent from the
    reference, tested against zero with a pooled two-proportion z-test (reference 0 of n,
    current k of m), adjusted with every other test of the run. Flagged when the adjusted
    p < `alpha` (0.05) and the share >= `category-share-threshold` (0.5%). The finding lists
    the new values with their shares (largest first). On a model output (`--prediction`,
    `--target`) a new class is reported as DRIFT002.
    """

    code = "DRIFT003"
    name = "new-category"
    severity = Severity.MEDIUM
    summary = "Current data holds categories never seen in the reference."
    fix = (
        "Map the new values (a renamed code, a new product, a client sending free text) to known "
        "categories or to an explicit 'other', make the service validate the allowed values, and "
        "retrain once the category is real."
    )
    risk = (
        "Most encoders map an unseen category to all zeros or an error, so these rows get "
        "arbitrary predictions."
    )
    checklist = ()

    def check(self, observations: DriftObservations) -> Iterable[Finding]:
        for column in observations.columns:
            if not column.is_output:
                found = changed_categories(self, observations, column, vanished=False)
                if found is not None:
                    yield found


def changed_categories(
    rule: DriftRule,
    observations: DriftObservations,
    column: ColumnStats,
    *,
    vanished: bool,
    fingerprint_key: str | None = None,
) -> Finding | None:
    """The new (or, with `vanished`, the vanished) categories of a column when their total
    share passes the test after the correction AND reaches `category-share-threshold`.
    DRIFT004 and, on model outputs, DRIFT002 judge the same way."""
    if column.categorical is None or column.categorical.shift is None:
        return None
    categorical, cats = column.categorical, column.categorical.shift
    test = TestKey.VANISHED_CATEGORIES if vanished else TestKey.NEW_CATEGORIES
    p_value = cats.vanished_p if vanished else cats.new_p
    if p_value is None or not significant(observations, column.name, test):
        return None
    share = cats.vanished_share if vanished else cats.new_share
    if share < observations.options.category_share_threshold:
        return None
    shares = cats.vanished_categories if vanished else cats.new_categories
    named = dict(sorted(shares.items(), key=lambda kv: -kv[1]))
    listed = ", ".join(f"{k!r} ({s:.2%})" for k, s in list(named.items())[:LISTED])
    more = f" and {len(named) - LISTED} more" if len(named) > LISTED else ""
    verb = "gone from current" if vanished else "new in current"
    adjusted = observations.adjusted_p(column.name, test)
    samples = samples_text(observations, column, categorical.n_reference, categorical.n_current)
    return rule.finding(
        location(observations, column),
        f"{column.name}{role_text(column)}: {len(named)} "
        f"categor{'y' if len(named) == 1 else 'ies'} {verb}: {listed}{more}",
        evidence=(
            Evidence(
                kind=EvidenceKind.STATISTIC,
                action=f"category counts and two-proportion z-test on {samples}",
                observed=f"{share:.2%} of {'reference' if vanished else 'current'} rows; "
                f"{p_text(p_value, adjusted, observations.options.correction)}",
                values=json_safe(
                    {"share": share, "categories": named, "p": p_value, "p_adjusted": adjusted}
                ),
            ),
        ),
        fingerprint_key=fingerprint_key or f"{rule.code}:{column.name}",
    )
