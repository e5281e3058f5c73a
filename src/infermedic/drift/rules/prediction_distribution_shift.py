"""DRIFT002 prediction-distribution-shift: the model's output (or the target) distribution in "
"current data differs from the reference."""

from __future__ import annotations

from infermedic.model import Severity
from infermedic.rules import Rule


class PredictionDistributionShift(Rule):
    """## What it does
    Checks for a shift in the distribution of the columns named by `--prediction` (or a
    column named `prediction`) and `--target`, reported apart from the input features.

    ## Why is this bad?
    The predictions are what users and downstream systems act on. A moved prediction
    distribution with stable inputs points at the model or its preprocessing (a new artefact,
    a skewed transform); with moved inputs it says the input drift matters. A moved target
    (label shift) changes the base rates the model was calibrated for.

    ## How it's measured
    The same tests and decision rule as DRIFT001 (KS, PSI over 10 reference-quantile bins
    and Wasserstein/std for numeric outputs; homogeneity chi-square and Jensen-Shannon for
    class labels), on the prediction and target columns; their p-values join the same
    multiple-testing correction. Default: adjusted p < 0.05 and PSI >= 0.1 or
    Wasserstein/std >= 0.05 (JS >= 0.05 for labels).
    """

    code = "DRIFT002"
    name = "prediction-distribution-shift"
    severity = Severity.HIGH
    summary = (
        "The model's output (or the target) distribution in current data differs from the "
        "reference."
    )
    fix = (
        "Check the inputs' drift findings and the model version first; if inputs are stable, "
        "compare predictions on the same inputs across versions (a preprocessing or artefact "
        "change); if labels moved, re-estimate class priors and recalibrate or retrain."
    )
    risk = (
        "Prediction drift is the closest unlabelled proxy for an accuracy drop: downstream "
        "decisions change even when each input looks normal."
    )
    checklist = ()
    measured = True
