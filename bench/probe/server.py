"""The bench target: one uvicorn worker with a fast route, a 20 ms sleep and a periodic stall."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

STALL_EVERY_S = 10.0
STALL_S = 1.0


async def _stall_forever() -> None:
    while True:
        await asyncio.sleep(STALL_EVERY_S - STALL_S)
        time.sleep(STALL_S)  # the whole event loop stops for a second


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(_stall_forever()) if app.title == "stall" else None
    yield
    if task is not None:
        task.cancel()


app = FastAPI(title="bench", lifespan=lifespan)
stall_app = FastAPI(title="stall", lifespan=lifespan)


@app.get("/fast")
@stall_app.get("/fast")
async def fast() -> dict[str, bool]:
    return {"ok": True}


@app.get("/sleep")
async def sleep() -> dict[str, bool]:
    await asyncio.sleep(0.020)
    return {"ok": True}
