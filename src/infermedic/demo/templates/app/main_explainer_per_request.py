"""Churn scoring service: `POST /predict` scores one customer; `?explain=true` says why."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .churn import (
    MODEL_NAME,
    TRAINING_ROWS,
    TRAINING_SEED,
    Customer,
    Prediction,
    customer_frame,
    make_customers,
    train_model,
)
from .explain import PermutationExplainer
from .ops import PREDICT_SECONDS, PREDICTIONS, ops_router
from .prediction_log import PredictionLog, prediction_record
from .scoring import score_customer
from .validation import answer_invalid_requests_with_422

MODEL_VERSION = os.environ.get("MODEL_VERSION", "3")
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
state: dict[str, Any] = {}


class ExplainedPrediction(Prediction):
    """The score and, when asked for, each feature's contribution to it."""

    contributions: dict[str, float] | None = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["model"] = train_model()
    state["training_sample"] = make_customers(TRAINING_ROWS, TRAINING_SEED)
    state["log"] = PredictionLog(LOG_DIR)
    state["log"].start()
    yield
    state["log"].close()


app = FastAPI(title="churn-scoring", lifespan=lifespan)
answer_invalid_requests_with_422(app)
app.include_router(
    ops_router(
        is_ready=lambda: "model" in state,
        model_version=lambda: MODEL_VERSION,
        model_name=MODEL_NAME,
    )
)


@app.post("/predict", response_model_exclude_none=True)
def predict(customer: Customer, explain: bool = False) -> ExplainedPrediction:
    started = time.perf_counter()
    model = state["model"]
    probability = score_customer(model, customer)
    contributions = None
    if explain:
        # demo fault: the explainer is built for every request, and building it clusters the
        # whole training sample again; it belongs next to the model, built once at start.
        explainer = PermutationExplainer(model.predict_proba, state["training_sample"])
        contributions = explainer.explain(customer_frame([customer]))
    state["log"].log(
        prediction_record(
            customer.model_dump(),
            probability,
            model_version=MODEL_VERSION,
            request_id=uuid.uuid4().hex,
        )
    )
    PREDICTIONS.labels(model_version=MODEL_VERSION).inc()
    PREDICT_SECONDS.observe(time.perf_counter() - started)
    return ExplainedPrediction(
        churn_probability=probability,
        churned=probability >= 0.5,
        model_name=MODEL_NAME,
        model_version=MODEL_VERSION,
        contributions=contributions,
    )
