"""The ASGI middleware in-process: headers, health routes, metrics and lifespan hooks."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from infermedic.instrument import (
    InstrumentMiddleware,
    PredictionLogger,
    Readiness,
    current_request_id,
    instrument,
    stage,
)
from tests.instrument.helpers import lifespan as run_lifespan
from tests.instrument.helpers import parse_server_timing, sample_value, samples

pytestmark = pytest.mark.anyio

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _churn_api() -> FastAPI:
    api = FastAPI()

    @stage("predict")
    def predict(x: float) -> float:
        time.sleep(0.005)
        return x * 2

    @api.post("/predict")
    def predict_sync(body: dict[str, float]) -> dict[str, Any]:
        # A `def` route: FastAPI runs it in the threadpool with a copy of the context.
        with stage("preprocess"):
            x = body["x"] + 1
        score = predict(x)
        with stage("postprocess"):
            pass
        return {"score": score, "request_id": current_request_id()}

    @api.post("/predict_async")
    async def predict_async(body: dict[str, float]) -> dict[str, Any]:
        async with stage("preprocess"):
            x = body["x"]
        score = await run_in_threadpool(predict, x)
        return {"score": score}

    @api.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @api.get("/boom")
    async def boom() -> None:
        with stage("predict"):
            raise RuntimeError("model exploded")

    return api


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _metrics_text(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_server_timing_has_the_stages_from_the_threadpool_and_total(
    registry: CollectorRegistry,
) -> None:
    app = instrument(_churn_api(), registry=registry, loop_lag=False)
    async with _client(app) as client:
        response = await client.post("/predict", json={"x": 1.0})
    assert response.status_code == 200
    entries = parse_server_timing(response.headers["server-timing"])
    assert [name for name, _ in entries] == ["preprocess", "predict", "postprocess", "total"]
    timings = dict(entries)
    assert timings["predict"] >= 5.0  # the stage slept 5 ms
    # Stages lie inside the request, so total covers them (up to the 3-decimal rounding).
    assert timings["total"] + 0.003 >= timings["preprocess"] + timings["predict"]


async def test_async_route_with_run_in_threadpool_records_both_stages(
    registry: CollectorRegistry,
) -> None:
    app = instrument(_churn_api(), registry=registry, loop_lag=False)
    async with _client(app) as client:
        response = await client.post("/predict_async", json={"x": 2.0})
    assert response.json() == {"score": 4.0}
    names = [name for name, _ in parse_server_timing(response.headers["server-timing"])]
    assert names == ["preprocess", "predict", "total"]


async def test_concurrent_requests_keep_their_own_stages(registry: CollectorRegistry) -> None:
    async def handler(request: Request) -> PlainTextResponse:
        name = request.path_params["name"]
        with stage(name):
            await asyncio.sleep(0.01)
        return PlainTextResponse(name)

    app = instrument(
        Starlette(routes=[Route("/s/{name}", handler)]), registry=registry, loop_lag=False
    )
    async with _client(app) as client:
        responses = await asyncio.gather(*(client.get(f"/s/stage{i}") for i in range(8)))
    for i, response in enumerate(responses):
        names = [name for name, _ in parse_server_timing(response.headers["server-timing"])]
        assert names == [f"stage{i}", "total"]


async def test_request_id_is_echoed_or_generated_and_seen_by_the_handler(
    registry: CollectorRegistry,
) -> None:
    app = instrument(_churn_api(), registry=registry, loop_lag=False)
    async with _client(app) as client:
        given = await client.post("/predict", json={"x": 1.0}, headers={"X-Request-ID": "abc-123"})
        generated = await client.post("/predict", json={"x": 1.0})
        too_long = await client.post(
            "/predict", json={"x": 1.0}, headers={"x-request-id": "a" * 500}
        )
    assert given.headers["x-request-id"] == "abc-123"
    assert given.json()["request_id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert generated.json()["request_id"] == generated.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", too_long.headers["x-request-id"])


async def test_traceparent_is_passed_through_only_when_valid(registry: CollectorRegistry) -> None:
    app = instrument(_churn_api(), registry=registry, loop_lag=False)
    async with _client(app) as client:
        valid = await client.get("/items/1", headers={"traceparent": TRACEPARENT})
        invalid = await client.get("/items/1", headers={"traceparent": "not-a-trace"})
    assert valid.headers["traceparent"] == TRACEPARENT
    assert "traceparent" not in invalid.headers


async def test_an_app_set_request_id_is_not_duplicated(registry: CollectorRegistry) -> None:
    async def handler(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"X-Request-ID": "from-app"})

    app = instrument(Starlette(routes=[Route("/", handler)]), registry=registry, loop_lag=False)
    async with _client(app) as client:
        response = await client.get("/")
    assert response.headers.get_list("x-request-id") == ["from-app"]


async def test_readyz_is_503_until_the_model_is_loaded_and_warmed_up(
    registry: CollectorRegistry,
) -> None:
    readiness = Readiness()
    app = instrument(_churn_api(), registry=registry, readiness=readiness, loop_lag=False)
    async with _client(app) as client:
        assert (await client.get("/livez")).status_code == 200
        first = await client.get("/readyz")
        assert first.status_code == 503
        assert first.json() == {
            "ready": False,
            "model_loaded": False,
            "warmed_up": False,
            "waiting_for": "readiness.warm_up(predict, example) or mark_ready()",
        }
        readiness.model_loaded()
        assert (await client.get("/readyz")).status_code == 503
        assert readiness.warm_up(lambda rows: [r * 2 for r in rows], [1, 2]) == [2, 4]
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "model_loaded": True, "warmed_up": True}
        readiness.mark_not_ready("reloading model")
        draining = await client.get("/readyz")
        assert draining.status_code == 503
        assert draining.json()["reason"] == "reloading model"
        assert (await client.get("/livez")).status_code == 200
        head = await client.head("/readyz")
        assert head.status_code == 503
        assert head.content == b""


async def test_warm_up_that_fails_leaves_the_service_not_ready() -> None:
    readiness = Readiness()

    def broken(_: object) -> None:
        raise ValueError("shape mismatch")

    with pytest.raises(ValueError):
        readiness.warm_up(broken, [[1.0]])
    assert not readiness.is_ready

    async def predict(x: int) -> int:
        return x

    assert await readiness.warm_up_async(predict, 3) == 3
    assert readiness.is_ready


async def test_legacy_health_paths_and_health_timing_header(registry: CollectorRegistry) -> None:
    app = instrument(
        _churn_api(), registry=registry, legacy_health=True, readiness=Readiness(), loop_lag=False
    )
    async with _client(app) as client:
        live = await client.get("/health")
        ready = await client.get("/ready")
        post = await client.post("/livez")
    assert live.status_code == 200
    assert live.json() == {"live": True}
    assert [name for name, _ in parse_server_timing(live.headers["server-timing"])] == ["total"]
    assert ready.status_code == 503
    # Only GET and HEAD are answered by the middleware; other methods reach the app.
    assert post.status_code == 404


async def test_without_legacy_health_the_app_owns_health(registry: CollectorRegistry) -> None:
    app = instrument(_churn_api(), registry=registry, loop_lag=False)
    async with _client(app) as client:
        assert (await client.get("/health")).status_code == 404


async def test_metrics_parse_and_use_the_route_template(registry: CollectorRegistry) -> None:
    app = instrument(
        _churn_api(),
        registry=registry,
        model_name="churn",
        model_version="7",
        model_uri="models:/churn/7",
        loop_lag=False,
    )
    async with _client(app) as client:
        for item_id in (1, 2, 3):
            assert (await client.get(f"/items/{item_id}")).status_code == 200
        await client.post("/predict", json={"x": 1.0})
        assert (await client.get("/nope")).status_code == 404
        assert (await client.request("BREW", "/items/1")).status_code == 405
        text = await _metrics_text(client)

    name = "http_server_request_duration_seconds_count"
    assert sample_value(text, name, http_route="/items/{item_id}", http_request_method="GET") == 3
    assert (
        sample_value(
            text,
            name,
            http_route="/predict",
            http_request_method="POST",
            http_response_status_code="200",
        )
        == 1
    )
    assert sample_value(text, name, http_route="unmatched", http_response_status_code="404") == 1
    # An invented method does not become a label value.
    assert (
        sample_value(text, name, http_request_method="_OTHER", http_route="/items/{item_id}") == 1
    )
    routes = {labels.get("http_route") for _, labels, _ in samples(text)}
    assert not any(route and route.startswith("/items/") and "{" not in route for route in routes)
    # /metrics itself is answered by the middleware and not counted.
    assert "/metrics" not in routes
    assert sample_value(text, "inference_stage_duration_seconds_count", stage="predict") == 1
    assert sample_value(text, "inference_stage_duration_seconds_count", stage="preprocess") == 1
    info = {"name": "churn", "version": "7", "uri": "models:/churn/7"}
    assert sample_value(text, "inference_model_info", **info) == 1
    assert sample_value(text, "http_server_active_requests") == 0


async def test_a_raising_route_counts_an_error_and_a_500(registry: CollectorRegistry) -> None:
    app = instrument(_churn_api(), registry=registry, loop_lag=False)
    async with _client(app) as client:
        response = await client.get("/boom")
        text = await _metrics_text(client)
    assert response.status_code == 500
    assert "server-timing" in response.headers
    errors = sample_value(
        text, "inference_errors_total", http_route="/boom", error_type="RuntimeError"
    )
    assert errors == 1
    count = sample_value(
        text,
        "http_server_request_duration_seconds_count",
        http_route="/boom",
        http_response_status_code="500",
    )
    assert count == 1
    assert sample_value(text, "inference_stage_duration_seconds_count", stage="predict") == 1


async def test_a_5xx_answer_without_exception_is_an_error_too(registry: CollectorRegistry) -> None:
    async def unavailable(request: Request) -> JSONResponse:
        return JSONResponse({"error": "model busy"}, status_code=503)

    app = instrument(
        Starlette(routes=[Route("/predict", unavailable, methods=["POST"])]),
        registry=registry,
        loop_lag=False,
    )
    async with _client(app) as client:
        assert (await client.post("/predict")).status_code == 503
        text = await _metrics_text(client)
    assert sample_value(text, "inference_errors_total", error_type="http_503") == 1


async def test_route_template_under_a_mount(registry: CollectorRegistry) -> None:
    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["item_id"])

    starlette_app = Starlette(routes=[Mount("/v1", routes=[Route("/items/{item_id}", item)])])
    app = instrument(starlette_app, registry=registry, loop_lag=False)
    async with _client(app) as client:
        assert (await client.get("/v1/items/42")).text == "42"
        text = await _metrics_text(client)
    count = sample_value(
        text, "http_server_request_duration_seconds_count", http_route="/v1/items/{item_id}"
    )
    assert count == 1


async def test_any_asgi_app_gets_headers_and_the_unmatched_route(
    registry: CollectorRegistry,
) -> None:
    async def bare_app(scope: Any, receive: Any, send: Any) -> None:
        with stage("predict"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = instrument(bare_app, registry=registry, loop_lag=False)
    async with _client(app) as client:
        response = await client.get("/anything/123")
        text = await _metrics_text(client)
    assert response.text == "ok"
    names = [name for name, _ in parse_server_timing(response.headers["server-timing"])]
    assert names == ["predict", "total"]
    count = sample_value(text, "http_server_request_duration_seconds_count", http_route="unmatched")
    assert count == 1


async def test_two_apps_on_one_registry_share_the_metrics(registry: CollectorRegistry) -> None:
    first = instrument(_churn_api(), registry=registry, loop_lag=False)
    second = instrument(_churn_api(), registry=registry, loop_lag=False)
    assert first.metrics is second.metrics


async def test_add_middleware_form_and_attribute_forwarding(registry: CollectorRegistry) -> None:
    api = FastAPI()
    api.add_middleware(InstrumentMiddleware, registry=registry, loop_lag=False)

    @api.get("/x/{n}")
    def x(n: int) -> int:
        with stage("predict"):
            return n

    async with run_lifespan(api), _client(api) as client:
        response = await client.get("/x/5")
        text = (await client.get("/metrics")).text
    assert [n for n, _ in parse_server_timing(response.headers["server-timing"])] == [
        "predict",
        "total",
    ]
    assert (
        sample_value(text, "http_server_request_duration_seconds_count", http_route="/x/{n}") == 1
    )

    wrapped = instrument(FastAPI(), registry=registry, loop_lag=False)

    @wrapped.get("/late")  # forwarded to the FastAPI app
    def late() -> str:
        return "ok"

    async with _client(wrapped) as client:
        assert (await client.get("/late")).json() == "ok"


async def test_lifespan_starts_the_loop_lag_sampler_and_closes_the_logger(
    registry: CollectorRegistry, tmp_path: Path
) -> None:
    readiness = Readiness()
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        readiness.warm_up(lambda x: x, 1)
        yield
        events.append("shutdown")

    api = FastAPI(lifespan=lifespan)

    @api.post("/predict")
    def predict(body: dict[str, float]) -> dict[str, float]:
        logger.log(body, body["age"] > 40, outputs={"score": 0.5})
        return {"score": 0.5}

    # A long flush interval: only the shutdown close can have written the file.
    logger = PredictionLogger(tmp_path, registry=registry, flush_interval_s=3600)
    app = instrument(
        api, registry=registry, readiness=readiness, prediction_logger=logger, model_version="7"
    )
    assert app.loop_lag is not None
    async with run_lifespan(app), _client(app) as client:
        assert app.loop_lag.running
        assert (await client.get("/readyz")).status_code == 200
        response = await client.post("/predict", json={"age": 50})
        assert not list(tmp_path.glob("*.jsonl"))
    assert events == ["startup", "shutdown"]
    assert not app.loop_lag.running
    assert not readiness.is_ready
    files = list(tmp_path.glob("*.jsonl"))
    assert len(files) == 1
    line = files[0].read_text()
    assert f'"request_id":"{response.headers["x-request-id"]}"' in line
    assert '"model_version":"7"' in line
    assert '"age":50' in line


async def test_an_app_without_lifespan_support_still_gets_the_hooks(
    registry: CollectorRegistry, tmp_path: Path
) -> None:
    async def bare_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("only http")  # what many small ASGI apps do
        logger.log({"age": 1}, 0)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    logger = PredictionLogger(tmp_path, registry=registry, flush_interval_s=3600)
    app = instrument(bare_app, registry=registry, prediction_logger=logger)
    async with run_lifespan(app), _client(app) as client:
        assert app.loop_lag is not None
        assert app.loop_lag.running
        assert (await client.get("/")).text == "ok"
    assert not app.loop_lag.running
    assert len(list(tmp_path.glob("*.jsonl"))) == 1


async def test_a_failing_app_startup_is_not_hidden(registry: CollectorRegistry) -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise OSError("model file missing")
        yield

    app = instrument(FastAPI(lifespan=lifespan), registry=registry)
    sent: list[str] = []
    inbox = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, str]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    with pytest.raises(OSError, match="model file missing"):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert sent == ["lifespan.startup.failed"]
    assert app.loop_lag is not None
    assert not app.loop_lag.running
