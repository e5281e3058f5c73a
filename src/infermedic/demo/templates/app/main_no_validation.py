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

from .churn import MODEL_NAME, churn_probability, customer_frame, train_model
from .ops import PREDICT_SECONDS, PREDICTIONS, ops_router
from .prediction_log import PredictionLog, prediction_record

MODEL_VERSION = os.environ.get("MODEL_VERSION", "3")
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
state: dict[str, Any] = {}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["model"] = train_model()
    state["log"] = PredictionLog(LOG_DIR)
    state["log"].start()
    yield
    state["log"].close()


app = FastAPI(title="churn-scoring", lifespan=lifespan)
app.include_router(
    ops_router(
        is_ready=lambda: "model" in state,
        model_version=lambda: MODEL_VERSION,
        model_name=MODEL_NAME,
    )
)


@app.post("/predict")
def predict(payload: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    # demo fault: the body is whatever JSON object the client sent; a missing field, a string
    # where a number belongs or a NaN only fails deep inside the model, as a 500.
    frame = customer_frame([payload])
    probability = churn_probability(state["model"], frame)[0]
    state["log"].log(
        prediction_record(
            payload, probability, model_version=MODEL_VERSION, request_id=uuid.uuid4().hex
        )
    )
    PREDICTIONS.labels(model_version=MODEL_VERSION).inc()
    PREDICT_SECONDS.observe(time.perf_counter() - started)
    return {
        "churn_probability": probability,
        "churned": probability >= 0.5,
        "model_name": MODEL_NAME,
        "model_version": MODEL_VERSION,
    }
