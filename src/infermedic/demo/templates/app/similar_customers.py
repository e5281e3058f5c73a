"""'Customers like this one': scores of a neighbourhood of a customer, cached for the UI."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from .churn import Customer, customer_frame

NEIGHBOURS = 1000
# demo fault: keyed by request id, which never repeats: the cache only grows (~100 KB a
# request), never hits and is never evicted.
_neighbourhood_cache: dict[str, np.ndarray] = {}


def neighbourhood_risk(model: Pipeline, customer: Customer, request_id: str) -> float:
    """Mean churn logit over `NEIGHBOURS` customers a little different from this one."""
    row = np.asarray(model.named_steps["features"].transform(customer_frame([customer])))
    rng = np.random.default_rng(abs(hash(request_id)) % 2**32)
    neighbourhood = row + rng.normal(0.0, 0.1, size=(NEIGHBOURS, row.shape[1]))
    _neighbourhood_cache[request_id] = neighbourhood
    classifier = model.named_steps["classifier"]
    return float(np.mean(neighbourhood @ classifier.coef_.ravel() + classifier.intercept_[0]))
