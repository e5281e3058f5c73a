"""A service whose liveness route is at no usual path (`/ops/up`, and no OpenAPI document to
find it in), with a prediction route that blocks its event loop: diagnose must time the
route it is given (`--health-path`)."""

from __future__ import annotations

import time

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(openapi_url=None)
HITS = {"up": 0}


class Features(BaseModel):
    x: list[float]


@app.get("/ops/up")
async def up() -> dict[str, str]:
    HITS["up"] += 1
    return {"status": "up"}


@app.get("/ops/hits")
async def hits() -> dict[str, int]:
    return dict(HITS)


@app.post("/score")
async def score(features: Features) -> dict[str, float]:
    time.sleep(0.04)  # CPU-bound scoring called from `async def`: the event loop stops
    return {"score": sum(features.x)}
