"""Request features to model inputs, hand-written so serving needs no pandas pipeline.

The constants were copied from the analysis notebook that produced the first model.
"""

from __future__ import annotations

import numpy as np

from .churn import Customer

# demo fault: these means and standard deviations are from the notebook's 2023 data, before
# the price change; the deployed model was trained with its own fitted scaler, so serving
# now scales `monthly_charges` and `support_calls` differently from training.
SCALING = {
    "tenure_months": (27.4, 17.9),
    "monthly_charges": (42.0, 14.0),
    "support_calls": (0.8, 1.0),
    "age": (45.0, 13.6),
}
PLANS = ("basic", "premium", "standard")
REGIONS = ("east", "north", "south", "west")


def model_inputs(customer: Customer) -> np.ndarray:
    """One row: the scaled numeric features, then the plan and region one-hot columns."""
    values = customer.model_dump()
    scaled = [(values[name] - mean) / sd for name, (mean, sd) in SCALING.items()]
    plan = [1.0 if customer.plan == p else 0.0 for p in PLANS]
    region = [1.0 if customer.region == r else 0.0 for r in REGIONS]
    return np.array([scaled + plan + region], dtype=np.float64)
