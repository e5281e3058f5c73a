"""The rules of this domain, in catalogue order. Adding a rule = a new module + one line here."""

from __future__ import annotations

from infermedic.drift.rules.base import DriftRule
from infermedic.drift.rules.feature_distribution_shift import FeatureDistributionShift
from infermedic.drift.rules.missing_rate_change import MissingRateChange
from infermedic.drift.rules.new_category import NewCategory
from infermedic.drift.rules.out_of_range_values import OutOfRangeValues
from infermedic.drift.rules.prediction_distribution_shift import PredictionDistributionShift
from infermedic.drift.rules.schema_change import SchemaChange
from infermedic.drift.rules.vanished_category import VanishedCategory

RULES: tuple[type[DriftRule], ...] = (
    FeatureDistributionShift,
    PredictionDistributionShift,
    NewCategory,
    VanishedCategory,
    MissingRateChange,
    SchemaChange,
    OutOfRangeValues,
)
