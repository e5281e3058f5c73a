"""End to end: a real uvicorn server on 127.0.0.1, and multi-process metrics in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from infermedic.instrument import PredictionLogger, Readiness, instrument, stage
from tests.instrument.helpers import parse_server_timing, sample_value


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    """Run `app` under uvicorn on 127.0.0.1 with a free port; stop it on exit."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            thread.join(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive()


@pytest.mark.server
def test_instrumented_service_under_uvicorn(tmp_path: Path, registry: CollectorRegistry) -> None:
    readiness = Readiness()
    logger = PredictionLogger(tmp_path, format="parquet", registry=registry)

    def model(rows: list[list[float]]) -> list[float]:
        return [sum(row) / 10 for row in rows]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        readiness.model_loaded()
        readiness.warm_up(model, [[1.0, 2.0]])
        yield

    api = FastAPI(lifespan=lifespan)

    @api.post("/predict")
    def predict(body: dict[str, float]) -> dict[str, float]:
        with stage("preprocess"):
            row = [body["age"], body["tenure"]]
        with stage("predict"):
            score = model([row])[0]
        with stage("log"):
            logger.log(body, score > 0.5, outputs={"score": score})
        return {"score": score}

    app = instrument(
        api,
        model_name="churn",
        model_version="3",
        readiness=readiness,
        prediction_logger=logger,
        registry=registry,
    )
    with _serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 200
        responses = [
            client.post("/predict", json={"age": 30.0 + i, "tenure": float(i)}) for i in range(5)
        ]
        metrics = client.get("/metrics").text
        assert app.loop_lag is not None
        assert app.loop_lag.running  # started by uvicorn's lifespan startup
    assert not app.loop_lag.running
    for response in responses:
        assert response.status_code == 200
        names = [n for n, _ in parse_server_timing(response.headers["server-timing"])]
        assert names == ["preprocess", "predict", "log", "total"]
    count = sample_value(
        metrics, "http_server_request_duration_seconds_count", http_route="/predict"
    )
    assert count == 5
    assert sample_value(metrics, "inference_stage_duration_seconds_count", stage="log") == 5
    assert sample_value(metrics, "python_asyncio_event_loop_lag_seconds") is not None
    # uvicorn's shutdown ran the lifespan hook: the logger is closed and its file complete.
    rows = duckdb.sql(
        f"SELECT request_id, model_version, age, prediction, score "
        f"FROM read_parquet('{tmp_path}/*.parquet') ORDER BY age"
    ).fetchall()
    assert [row[0] for row in rows] == [r.headers["x-request-id"] for r in responses]
    assert {row[1] for row in rows} == {"3"}
    assert [row[2] for row in rows] == [30.0, 31.0, 32.0, 33.0, 34.0]
    assert [row[4] for row in rows] == [r.json()["score"] for r in responses]


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from infermedic.instrument import instrument, stage

    async def predict(request):
        with stage("predict"):
            return PlainTextResponse("ok")

    app = instrument(Starlette(routes=[Route("/predict", predict)]), model_version="5",
                     loop_lag=False)

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
            for _ in range(int(sys.argv[1])):
                (await client.get("/predict")).raise_for_status()
            if sys.argv[2] == "scrape":
                print((await client.get("/metrics")).text)

    asyncio.run(main())
    """
)


@pytest.mark.server
def test_multiprocess_metrics_merge_workers(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def worker(requests: int, scrape: bool) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, str(requests), "scrape" if scrape else "-"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    worker(3, scrape=False)
    text = worker(4, scrape=True)
    # Two processes' samples merged by the scraping worker: 3 + 4 requests.
    count = sample_value(text, "http_server_request_duration_seconds_count", http_route="/predict")
    assert count == 7
    assert sample_value(text, "inference_stage_duration_seconds_count", stage="predict") == 7
    assert sample_value(text, "inference_model_info", version="5") == 1
    assert any(name.endswith(".db") for name in os.listdir(tmp_path))
    json.dumps(text)  # the exposition is plain text


@pytest.mark.server
@pytest.mark.parametrize("form", ["ignored", "returned"])
def test_instrument_works_whether_its_return_value_is_served_or_ignored(
    form: str, registry: CollectorRegistry
) -> None:
    """`instrument(app)` alone (as OpenTelemetry's `instrument_app`) and `app = instrument(app)`
    behave the same under uvicorn: headers, health routes, metrics, each request counted once.
    (A raising route's 500 is checked in test_instrument_middleware: uvicorn resets the
    connection of a request whose app raised after responding, which would make it flaky.)"""
    started: list[bool] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        started.append(True)  # the model would load here
        yield

    api = FastAPI(lifespan=lifespan)

    @api.post("/predict")
    def predict(body: dict[str, float]) -> dict[str, float]:
        with stage("predict"):
            return {"score": body["x"] / 2}

    returned = instrument(api, registry=registry)
    served: Any = api if form == "ignored" else returned
    assert returned.readiness is not None  # the returned object still carries the state
    with _serve(served) as url, httpx.Client(base_url=url, timeout=10) as client:
        assert started == [True]
        ready = client.get("/readyz")
        # No Readiness of the user's: ready once the app's own startup has completed.
        assert ready.status_code == 200, ready.text
        for _ in range(3):
            response = client.post("/predict", json={"x": 4.0})
            assert response.status_code == 200
            assert [n for n, _ in parse_server_timing(response.headers["server-timing"])] == [
                "predict",
                "total",
            ]
            assert response.headers["x-request-id"]
        text = client.get("/metrics").text
    count = sample_value(
        text,
        "http_server_request_duration_seconds_count",
        http_route="/predict",
        http_response_status_code="200",
    )
    assert count == 3  # once per request, not twice
