"""Churn scoring service: `POST /predict` scores one customer with fresh store features."""

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
from .dev_feature_store import start_feature_store
from .enrichment import enrich
from .ops import PREDICT_SECONDS, PREDICTIONS, ops_router
from .prediction_log import PredictionLog, prediction_record
from .scoring import score_customer
from .validation import answer_invalid_requests_with_422

MODEL_VERSION = os.environ.get("MODEL_VERSION", "3")
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["model"] = train_model()
    state["feature_store"] = os.environ.get("FEATURE_STORE_URL") or start_feature_store()
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
def predict(customer: Customer) -> Prediction:
    started = time.perf_counter()
    request_id = uuid.uuid4().hex
    enriched = enrich(customer, state["feature_store"], customer_id=request_id[:8])
    probability = score_customer(state["model"], enriched)
    state["log"].log(
        prediction_record(
            enriched.model_dump(), probability, model_version=MODEL_VERSION, request_id=request_id
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
