"""Churn scoring service: `POST /predict` scores one customer and records the prediction."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .churn import MODEL_NAME, Customer, Prediction, train_model
from .dev_log_collector import start_log_collector
from .ops import PREDICT_SECONDS, PREDICTIONS, ops_router
from .prediction_log import prediction_record
from .prediction_sink import PredictionSink
from .scoring import score_customer
from .validation import answer_invalid_requests_with_422

MODEL_VERSION = os.environ.get("MODEL_VERSION", "3")
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["model"] = train_model()
    collector_url = os.environ.get("LOG_COLLECTOR_URL") or start_log_collector(LOG_DIR)
    state["sink"] = PredictionSink(collector_url)
    yield


app = FastAPI(title="churn-scoring", lifespan=lifespan)
answer_invalid_requests_with_422(app)
app.include_router(
    ops_router(
        is_ready=lambda: "sink" in state,
        model_version=lambda: MODEL_VERSION,
        model_name=MODEL_NAME,
    )
)


@app.post("/predict")
async def predict(customer: Customer) -> Prediction:
    started = time.perf_counter()
    probability = await run_in_threadpool(score_customer, state["model"], customer)
    record = prediction_record(
        customer.model_dump(), probability, model_version=MODEL_VERSION, request_id=uuid.uuid4().hex
    )
    # demo fault: the record is shipped synchronously, on the event loop, before the answer
    # goes out: every request (and /health) waits for the collector's acknowledgement.
    state["sink"].write(record)
    PREDICTIONS.labels(model_version=MODEL_VERSION).inc()
    PREDICT_SECONDS.observe(time.perf_counter() - started)
    return Prediction(
        churn_probability=probability,
        churned=probability >= 0.5,
        model_name=MODEL_NAME,
        model_version=MODEL_VERSION,
    )
