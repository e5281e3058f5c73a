"""The demo data: the reference (training) sample and the request bodies traffic sends."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from infermedic.demo.scenarios import Scenario, TrafficProfile, get_scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["drifted_customers", "reference_frame", "request_bodies"]

# A marketing campaign brought in newer, younger customers on pricier plans, including an
# "enterprise" plan the model never saw; these are the shifts `input-drift` traffic carries.
DRIFT_NEW_PLAN = "enterprise"
DRIFT_NEW_PLAN_SHARE = 0.08


def reference_frame() -> pd.DataFrame:
    """The training sample the demo model is fitted on, with `churned` and `churn_probability`.

    This is what each scenario writes to `data/reference.parquet`: the reference `drift`
    compares prediction logs against. A fresh copy on every call.
    """
    return _reference_frame().copy()


@lru_cache(maxsize=1)
def _reference_frame() -> pd.DataFrame:
    from infermedic.demo.templates.app import churn

    frame = churn.make_customers(churn.TRAINING_ROWS, churn.TRAINING_SEED)
    model = churn.train_model()
    frame[churn.PREDICTION] = churn.churn_probability(model, frame[list(churn.FEATURES)])
    return frame


def drifted_customers(n_rows: int, seed: int) -> pd.DataFrame:
    """Customers from the shifted population `input-drift` traffic is drawn from."""
    import numpy as np

    from infermedic.demo.templates.app import churn

    frame = churn.make_customers(n_rows, seed)
    rng = np.random.default_rng(seed + 1)
    frame["tenure_months"] = (frame["tenure_months"] // 3).astype("int64")
    frame["age"] = np.clip(frame["age"] - 12, 18, 90).astype("int64")
    frame["monthly_charges"] = np.round(frame["monthly_charges"] * 1.3 + 5.0, 2)
    new_plan = rng.random(n_rows) < DRIFT_NEW_PLAN_SHARE
    frame.loc[new_plan, "plan"] = DRIFT_NEW_PLAN
    frame.loc[new_plan, "monthly_charges"] = np.round(rng.normal(140.0, 10.0, new_plan.sum()), 2)
    return frame


def request_bodies(scenario: str | Scenario, count: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """`count` JSON request bodies for `/predict`, drawn as the scenario's traffic is.

    Seeds are offset from the training seed so traffic is new customers from the same (or,
    for `input-drift`, a shifted) population, not a replay of the training rows.
    """
    from infermedic.demo.templates.app import churn

    profile = get_scenario(scenario).traffic
    draw_seed = 1000 + seed
    if profile is TrafficProfile.DRIFTED:
        frame = drifted_customers(count, draw_seed)
    else:
        frame = churn.make_customers(count, draw_seed)
    records: list[dict[str, Any]] = frame[list(churn.FEATURES)].to_dict(orient="records")
    # numpy scalars are not JSON; the request schema wants plain ints, floats and strings.
    return [
        {
            "tenure_months": int(r["tenure_months"]),
            "monthly_charges": float(r["monthly_charges"]),
            "support_calls": int(r["support_calls"]),
            "age": int(r["age"]),
            "plan": str(r["plan"]),
            "region": str(r["region"]),
        }
        for r in records
    ]
