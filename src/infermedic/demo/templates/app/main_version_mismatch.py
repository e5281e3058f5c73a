"""Churn scoring service: `POST /predict` scores one customer."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .churn import MODEL_NAME, Customer, Prediction
from .ops import PREDICT_SECONDS, PREDICTIONS, ops_router
from .prediction_log import PredictionLog, prediction_record
from .registry import load_model
from .scoring import score_customer
from .validation import answer_invalid_requests_with_422

# demo fault: the deployment pins MODEL_VERSION=3, but the service never reads it; it loads
# whatever "latest" points at, which the training job moved to an unreviewed candidate.
MODEL_URI = os.environ.get("MODEL_URI", "models:/churn/latest")
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["model"], state["version"] = load_model(MODEL_URI)
    state["log"] = PredictionLog(LOG_DIR)
    state["log"].start()
    yield
    state["log"].close()


app = FastAPI(title="churn-scoring", lifespan=lifespan)
answer_invalid_requests_with_422(app)
app.include_router(
    ops_router(
        is_ready=lambda: "model" in state,
        model_version=lambda: str(state.get("version", "")),
        model_name=MODEL_NAME,
    )
)


@app.post("/predict")
def predict(customer: Customer) -> Prediction:
    started = time.perf_counter()
    version = state["version"]
    probability = score_customer(state["model"], customer)
    state["log"].log(
        prediction_record(
            customer.model_dump(), probability, model_version=version, request_id=uuid.uuid4().hex
        )
    )
    PREDICTIONS.labels(model_version=version).inc()
    PREDICT_SECONDS.observe(time.perf_counter() - started)
    return Prediction(
        churn_probability=probability,
        churned=probability >= 0.5,
        model_name=MODEL_NAME,
        model_version=version,
    )
