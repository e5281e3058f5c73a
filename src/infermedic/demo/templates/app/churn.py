"""Synthetic churn data, the request schema and the model trained on it at start-up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

MODEL_NAME = "churn"
TRAINING_SEED = 3
TRAINING_ROWS = 4000
NUMERIC_FEATURES = ("tenure_months", "monthly_charges", "support_calls", "age")
CATEGORICAL_FEATURES = ("plan", "region")
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
TARGET = "churned"
PREDICTION = "churn_probability"
PLANS = ("basic", "standard", "premium")
REGIONS = ("north", "south", "east", "west")
_PLAN_PRICE = {"basic": 35.0, "standard": 65.0, "premium": 95.0}
_PLAN_EFFECT = {"basic": 0.35, "standard": 0.0, "premium": -0.45}
_REGION_EFFECT = {"north": 0.0, "south": 0.25, "east": -0.15, "west": 0.1}


class Customer(BaseModel):
    """One customer to score; the ranges are what the business considers possible."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    tenure_months: int = Field(ge=0, le=240, examples=[14])
    monthly_charges: float = Field(ge=0.0, le=1000.0, examples=[70.5])
    support_calls: int = Field(ge=0, le=100, examples=[2])
    age: int = Field(ge=16, le=120, examples=[41])
    plan: str = Field(min_length=1, max_length=32, examples=["standard"])
    region: str = Field(min_length=1, max_length=32, examples=["north"])


class Prediction(BaseModel):
    """The score for one customer and the model version that produced it."""

    churn_probability: float
    churned: bool
    model_name: str
    model_version: str


def make_customers(n_rows: int, seed: int) -> pd.DataFrame:
    """Draw `n_rows` customers with a churn label from a fixed generative story."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(PLANS, size=n_rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(REGIONS, size=n_rows, p=[0.3, 0.25, 0.25, 0.2])
    tenure = np.clip(np.round(rng.gamma(2.0, 14.0, n_rows)), 0, 72).astype(np.int64)
    price = np.array([_PLAN_PRICE[p] for p in plan])
    monthly = np.round(np.clip(price + rng.normal(0.0, 8.0, n_rows), 10.0, 200.0), 2)
    support_calls = rng.poisson(1.0 + 2.0 * (tenure < 6), n_rows).astype(np.int64)
    age = np.clip(np.round(rng.normal(45.0, 14.0, n_rows)), 18, 90).astype(np.int64)
    logit = (
        -0.8
        - 0.06 * tenure
        + 0.03 * (monthly - 60.0)
        + 0.5 * support_calls
        - 0.015 * (age - 45.0)
        + np.array([_PLAN_EFFECT[p] for p in plan])
        + np.array([_REGION_EFFECT[r] for r in region])
    )
    churned = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "support_calls": support_calls,
            "age": age,
            "plan": plan.astype(object),
            "region": region.astype(object),
            TARGET: churned,
        }
    )


def build_pipeline(classifier: str = "logistic") -> Pipeline:
    """The preprocessing and classifier, saved and served as one artifact.

    `classifier` is `"logistic"` (the default model) or `"forest"` (100 trees, ~10 MB).
    """
    features = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(NUMERIC_FEATURES)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
        ]
    )
    estimator: Any
    if classifier == "forest":
        estimator = RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=0)
    else:
        estimator = LogisticRegression(max_iter=500)
    return Pipeline([("features", features), ("classifier", estimator)])


def train_model(
    seed: int = TRAINING_SEED, n_rows: int = TRAINING_ROWS, classifier: str = "logistic"
) -> Pipeline:
    """Fit the pipeline on the seeded training sample (a fraction of a second)."""
    training = make_customers(n_rows, seed)
    pipeline = build_pipeline(classifier)
    pipeline.fit(training[list(FEATURES)], training[TARGET])
    return pipeline


def customer_frame(customers: list[Customer] | list[dict[str, Any]]) -> pd.DataFrame:
    """The model's input frame, columns in training order."""
    rows = [c.model_dump() if isinstance(c, Customer) else c for c in customers]
    return pd.DataFrame(rows, columns=list(FEATURES))


def churn_probability(model: Pipeline, frame: pd.DataFrame) -> list[float]:
    """Probability of churn for each row of `frame`."""
    return [float(p) for p in model.predict_proba(frame)[:, 1]]
