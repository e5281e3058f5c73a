"""A real FastAPI service with one route per behaviour the probe must tell apart."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

app = FastAPI(title="probe-test-service")
LOCK = threading.Lock()
LEAK: list[bytes] = []
SPIKES = itertools.count()
SERVICE_S = 0.020


class Features(BaseModel):
    x: float
    y: float = 0.0


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@app.post("/predict/fast")
async def fast(features: Features) -> dict[str, Any]:
    return {"prediction": features.x * 2}


@app.post("/predict/block")
async def block(features: Features) -> dict[str, Any]:
    time.sleep(SERVICE_S)  # the fault: a blocking call on the event loop
    return {"prediction": features.x * 2}


@app.post("/predict/lock")
def lock(features: Features) -> dict[str, Any]:
    with LOCK:  # the fault: one request at a time
        time.sleep(SERVICE_S)
    return {"prediction": features.x * 2}


@app.post("/predict/threaded")
def threaded(features: Features) -> dict[str, Any]:
    time.sleep(SERVICE_S)  # in the thread pool: concurrent requests overlap
    return {"prediction": features.x * 2}


@app.post("/predict/spiky")
async def spiky(features: Features, response: Response) -> dict[str, Any]:
    upstream = 0.300 if next(SPIKES) % 10 == 9 else 0.030
    await asyncio.sleep(upstream)  # a slow upstream call, every tenth one very slow
    response.headers["Server-Timing"] = (
        f"upstream;dur={upstream * 1000:.1f}, infer;dur=0.2, total;dur={upstream * 1000 + 0.5:.1f}"
    )
    return {"prediction": features.x * 2}


@app.post("/predict/leaky")
async def leaky(features: Features) -> dict[str, Any]:
    LEAK.append(b"x" * 2_000_000)  # the fault: every request keeps 2 MB alive
    return {"prediction": features.x * 2}
