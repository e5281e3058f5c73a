"""DRIFT007 out-of-range-values: current values fall outside the reference's [min, max] more often"
" than chance allows."""

from __future__ import annotations

from infermedic.model import Severity
from infermedic.rules import Rule


class OutOfRangeValues(Rule):
    """## What it does
    Checks numeric columns for current values below the reference minimum or above the
    reference maximum.

    ## Why is this bad?
    Outside the training range models extrapolate: tree ensembles return the value of
    their outermost leaf, linear and neural models grow without bound. A unit change
    upstream (cents vs dollars) shows up here first.

    ## How it's measured
    Counts current finite values below the reference minimum or above its maximum (exact,
    from the bins around the reference range). If both samples came from one continuous
    distribution, each current value would fall outside with probability 2/(n+1); the p-value
    is the binomial tail of that, adjusted with every other test of the run. Flagged when the
    adjusted p < `alpha` (0.05) and the outside share >= `out-of-range-threshold` (1%).
    """

    code = "DRIFT007"
    name = "out-of-range-values"
    severity = Severity.MEDIUM
    summary = (
        "Current values fall outside the reference's [min, max] more often than chance allows."
    )
    fix = (
        "Check units and scaling upstream (cents vs dollars, ms vs s), clip or reject impossible "
        "values at the service boundary, and retrain if the new range is real."
    )
    risk = (
        "Models extrapolate poorly: trees flatten, linear models blow up, and scaled inputs leave "
        "the range the model was fitted on."
    )
    checklist = ()
    measured = True
