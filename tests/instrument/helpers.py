"""Parsing helpers shared by the instrumentation tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def parse_server_timing(header: str) -> list[tuple[str, float]]:
    """`name;dur=1.2, other;dur=3` -> [(name, 1.2), (other, 3.0)], checking the grammar."""
    entries = []
    for part in header.split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        durations = [float(p.split("=", 1)[1]) for p in params if p.startswith("dur=")]
        assert len(durations) == 1, part
        entries.append((name, durations[0]))
    return entries


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample in a Prometheus text exposition, parsed by prometheus_client's parser."""
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def sample_value(text: str, metric: str, /, **labels: str) -> float | None:
    """The value of the one sample called `metric` whose labels include `labels`."""
    found = [
        value
        for sample_name, sample_labels, value in samples(text)
        if sample_name == metric and labels.items() <= sample_labels.items()
    ]
    assert len(found) <= 1, (metric, labels, found)
    return found[0] if found else None


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Drive an ASGI app's lifespan startup and shutdown, as uvicorn does.

    (Starlette's TestClient would do it too, but it now warns when used with httpx.)
    """
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: MutableMapping[str, Any]) -> None:
        await outbox.put(dict(message))

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await task
