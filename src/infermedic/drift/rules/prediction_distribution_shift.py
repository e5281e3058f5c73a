"""DRIFT002 prediction-distribution-shift: the model's output (or the target) distribution in "
"current data differs from the reference."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from infermedic.drift.observations import ColumnStats, DriftObservations
from infermedic.drift.rules.base import DriftRule
from infermedic.drift.rules.feature_distribution_shift import distribution_shift
from infermedic.drift.rules.new_category import changed_categories
from infermedic.drift.rules.out_of_range_values import outside_range
from infermedic.model import Finding, Severity


class PredictionDistributionShift(DriftRule):
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

    On these columns the input tests of DRIFT003, DRIFT004 and DRIFT007 are reported as
    this rule too: a predicted class never seen in the reference, a class no longer
    predicted, or outputs outside the reference's [min, max] (same tests, same floors) are
    the predictions moving, not the inputs. Each is its own finding, named in the message.
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

    def check(self, observations: DriftObservations) -> Iterable[Finding]:
        for column in observations.columns:
            if column.is_output:
                yield from self._output_shift(observations, column)

    def _output_shift(
        self, observations: DriftObservations, column: ColumnStats
    ) -> Iterator[Finding]:
        yield from distribution_shift(self, observations, column)
        key = f"{self.code}:{column.name}"
        for found in (
            changed_categories(
                self, observations, column, vanished=False, fingerprint_key=f"{key}:new"
            ),
            changed_categories(
                self, observations, column, vanished=True, fingerprint_key=f"{key}:vanished"
            ),
            outside_range(self, observations, column, fingerprint_key=f"{key}:out-of-range"),
        ):
            if found is not None:
                yield found
