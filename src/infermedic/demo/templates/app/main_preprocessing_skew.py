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

from .churn import MODEL_NAME, Customer, Prediction, train_model
from .features import model_inputs
from .ops import PREDICT_SECONDS, PREDICTIONS, ops_router
from .prediction_log import PredictionLog, prediction_record
from .validation import answer_invalid_requests_with_422

MODEL_VERSION = os.environ.get("MODEL_VERSION", "3")
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Serving keeps only the classifier; the features are prepared by `model_inputs`.
    state["classifier"] = train_model().named_steps["classifier"]
    state["log"] = PredictionLog(LOG_DIR)
    state["log"].start()
    yield
    state["log"].close()


app = FastAPI(title="churn-scoring", lifespan=lifespan)
answer_invalid_requests_with_422(app)
app.include_router(
    ops_router(
        is_ready=lambda: "classifier" in state,
        model_version=lambda: MODEL_VERSION,
        model_name=MODEL_NAME,
    )
)


@app.post("/predict")
def predict(customer: Customer) -> Prediction:
    started = time.perf_counter()
    probability = float(state["classifier"].predict_proba(model_inputs(customer))[0, 1])
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
