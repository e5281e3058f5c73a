"""Churn scoring service: `POST /predict` scores one customer."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from infermedic.instrument import PredictionLogger, Readiness, instrument, stage

from .churn import MODEL_NAME, Customer, Prediction, train_model
from .scoring import score_customer
from .validation import answer_invalid_requests_with_422

MODEL_VERSION = os.environ.get("MODEL_VERSION", "3")
LOG_DIR = Path(os.environ.get("PREDICTION_LOG_DIR", "logs"))
# Model calls run on a small dedicated pool: off the event loop, and few enough threads that
# the loop still gets the interpreter lock promptly while predictions compute.
INFERENCE_THREADS = int(os.environ.get("INFERENCE_THREADS", "2"))
WARM_UP_CUSTOMER = Customer(
    tenure_months=12, monthly_charges=60.0, support_calls=1, age=40, plan="standard", region="north"
)

inference_pool = ThreadPoolExecutor(INFERENCE_THREADS, thread_name_prefix="inference")
readiness = Readiness()
# Completed log files appear every 10 s (and at shutdown), for drift to read.
predictions = PredictionLogger(LOG_DIR, model_version=MODEL_VERSION, rotate_s=2.0)
state: dict[str, Any] = {}


async def load_model() -> None:
    """Train, then run one real prediction; only then does /readyz answer 200."""
    loop = asyncio.get_running_loop()
    model = await loop.run_in_executor(inference_pool, train_model)
    readiness.model_loaded()
    await loop.run_in_executor(
        inference_pool, readiness.warm_up, score_customer, model, WARM_UP_CUSTOMER
    )
    state["model"] = model


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Load in the background: /livez answers at once, /readyz once the model is warm.
    loading = asyncio.create_task(load_model())
    yield
    loading.cancel()
    inference_pool.shutdown(wait=False, cancel_futures=True)


api = FastAPI(title="churn-scoring", lifespan=lifespan)
answer_invalid_requests_with_422(api)


@api.get("/version")
def version() -> dict[str, str]:
    return {"model_name": MODEL_NAME, "model_version": MODEL_VERSION}


@api.post("/predict")
async def predict(customer: Customer) -> Prediction:
    loop = asyncio.get_running_loop()
    with stage("predict"):
        probability = await loop.run_in_executor(
            inference_pool, score_customer, state["model"], customer
        )
    predictions.log(customer.model_dump(), outputs={"churn_probability": probability})
    return Prediction(
        churn_probability=probability,
        churned=probability >= 0.5,
        model_name=MODEL_NAME,
        model_version=MODEL_VERSION,
    )


app = instrument(
    api,
    model_name=MODEL_NAME,
    model_version=MODEL_VERSION,
    readiness=readiness,
    prediction_logger=predictions,
)
