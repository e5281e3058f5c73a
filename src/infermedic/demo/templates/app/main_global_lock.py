"""Churn scoring service: `POST /predict` scores one customer, with an uncertainty band."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .churn import MODEL_NAME, Customer, train_model
from .ops import PREDICT_SECONDS, PREDICTIONS, ops_router
from .prediction_log import PredictionLog, prediction_record
from .scoring import score_customer
from .uncertainty import PredictionWithBand, UncertaintyBand
from .validation import answer_invalid_requests_with_422

MODEL_VERSION = os.environ.get("MODEL_VERSION", "3")
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
state: dict[str, Any] = {}
# demo fault: one lock around the model "to be safe"; every request waits for the one before
# it, so concurrent requests are served one at a time while the thread pool sits idle.
MODEL_LOCK = threading.Lock()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    model = train_model()
    state["band"] = UncertaintyBand(model)
    state["model"] = model
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


@app.post("/predict")
def predict(customer: Customer) -> PredictionWithBand:
    started = time.perf_counter()
    with MODEL_LOCK:
        probability = score_customer(state["model"], customer)
        band = state["band"].band(customer)
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
    return PredictionWithBand(
        churn_probability=probability,
        churned=probability >= 0.5,
        model_name=MODEL_NAME,
        model_version=MODEL_VERSION,
        churn_probability_band=band,
    )
