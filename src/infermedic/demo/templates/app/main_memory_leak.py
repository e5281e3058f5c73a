"""Churn scoring service: `POST /predict` scores one customer and its neighbourhood."""

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
from .ops import PREDICT_SECONDS, PREDICTIONS, ops_router
from .prediction_log import PredictionLog, prediction_record
from .scoring import score_customer
from .similar_customers import neighbourhood_risk
from .validation import answer_invalid_requests_with_422

MODEL_VERSION = os.environ.get("MODEL_VERSION", "3")
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
state: dict[str, Any] = {}


class PredictionWithNeighbourhood(Prediction):
    """The score and the mean churn logit of similar customers."""

    neighbourhood_logit: float


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state["model"] = train_model()
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
def predict(customer: Customer) -> PredictionWithNeighbourhood:
    started = time.perf_counter()
    request_id = uuid.uuid4().hex
    probability = score_customer(state["model"], customer)
    neighbourhood = neighbourhood_risk(state["model"], customer, request_id)
    state["log"].log(
        prediction_record(
            customer.model_dump(), probability, model_version=MODEL_VERSION, request_id=request_id
        )
    )
    PREDICTIONS.labels(model_version=MODEL_VERSION).inc()
    PREDICT_SECONDS.observe(time.perf_counter() - started)
    return PredictionWithNeighbourhood(
        churn_probability=probability,
        churned=probability >= 0.5,
        model_name=MODEL_NAME,
        model_version=MODEL_VERSION,
        neighbourhood_logit=neighbourhood,
    )
