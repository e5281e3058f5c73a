"""Churn scoring service: `POST /predict` scores one customer."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import joblib
from fastapi import FastAPI

from .churn import MODEL_NAME, Customer, Prediction, train_model
from .ops import PREDICT_SECONDS, PREDICTIONS, ops_router
from .prediction_log import PredictionLog, prediction_record
from .scoring import score_customer
from .validation import answer_invalid_requests_with_422

MODEL_VERSION = os.environ.get("MODEL_VERSION", "3")
MODEL_PATH = Path(os.environ.get("MODEL_PATH", "models/churn-forest.joblib"))
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Stands in for the training job publishing its artifact (a 100-tree forest, ~10 MB).
    MODEL_PATH.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(train_model(classifier="forest"), MODEL_PATH)
    state["log"] = PredictionLog(LOG_DIR)
    state["log"].start()
    yield
    state["log"].close()


app = FastAPI(title="churn-scoring", lifespan=lifespan)
answer_invalid_requests_with_422(app)
app.include_router(
    ops_router(
        is_ready=lambda: "log" in state,
        model_version=lambda: MODEL_VERSION,
        model_name=MODEL_NAME,
    )
)


@app.post("/predict")
def predict(customer: Customer) -> Prediction:
    started = time.perf_counter()
    # demo fault: the artifact is read and unpickled on every request, so each prediction
    # pays the whole model load (tens of milliseconds) before it computes anything.
    model = joblib.load(MODEL_PATH)
    probability = score_customer(model, customer)
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
    return Prediction(
        churn_probability=probability,
        churned=probability >= 0.5,
        model_name=MODEL_NAME,
        model_version=MODEL_VERSION,
    )
