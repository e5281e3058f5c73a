"""DRIFT004 vanished-category: categories frequent in the reference no longer occur in current "
"data."""

from __future__ import annotations

from collections.abc import Iterable

from infermedic.drift.observations import DriftObservations
from infermedic.drift.rules.base import DriftRule
from infermedic.drift.rules.new_category import changed_categories
from infermedic.model import Finding, Severity


class VanishedCategory(DriftRule):
    """## What it does
    Checks for categorical values that occur in the reference but not at all in the current
    data, and names them with their reference shares.

    ## Why is this bad?
    A value that stops appearing is rarely a change in the world: it is usually an upstream
    rename (the rows now arrive as a new category), a filter, or a broken join that drops a
    segment. The model keeps serving, but a whole segment's traffic has changed or vanished.

    ## How it's measured
    Per categorical column: the total reference share of values absent from the current data,
    tested against zero with a pooled two-proportion z-test, adjusted with every other test of
    the run. Flagged when the adjusted p < `alpha` (0.05) and the share >=
    `category-share-threshold` (0.5%). On a model output (`--prediction`, `--target`) a class
    no longer predicted is reported as DRIFT002.
    """

    code = "DRIFT004"
    name = "vanished-category"
    severity = Severity.MEDIUM
    summary = "Categories frequent in the reference no longer occur in current data."
    fix = (
        "Find out why the values stopped arriving (an upstream rename, a filter, a broken join); "
        "if the change is intended, retrain without them."
    )
    risk = (
        "A vanished category often means an upstream rename or a broken join: those rows now "
        "arrive under another value or not at all."
    )
    checklist = ()

    def check(self, observations: DriftObservations) -> Iterable[Finding]:
        for column in observations.columns:
            if not column.is_output:
                found = changed_categories(self, observations, column, vanished=True)
                if found is not None:
                    yield found
