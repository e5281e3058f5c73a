"""DRIFT003 new-category: current data holds categories never seen in the reference."""

from __future__ import annotations

from infermedic.model import Severity
from infermedic.rules import Rule


class NewCategory(Rule):
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
    the new values with their shares (largest first).
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
    measured = True
