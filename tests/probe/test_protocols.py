"""Protocol detection against a small fake of each protocol, GET requests only."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from infermedic.probe.http import ProbeClient, Redactor
from infermedic.probe.protocols import ServiceMap, detect
from tests.probe import fakes


def run_detect(app: Any, **options: Any) -> tuple[ServiceMap, list[str]]:
    methods: list[str] = []

    async def go() -> ServiceMap:
        transport = httpx.ASGITransport(app=app)

        async def spy(request: httpx.Request) -> None:
            methods.append(request.method)

        client = ProbeClient("http://svc.test", transport=transport)
        client._client.event_hooks["request"] = [spy]
        try:
            return await detect(client, Redactor([]), **options)
        finally:
            await client.aclose()

    return asyncio.run(go()), methods


def test_fastapi_openapi_route_and_body_from_schema() -> None:
    service, methods = run_detect(fakes.fastapi_app())
    assert service.names() == ("openapi",)
    assert set(methods) == {"GET"}
    assert service.predict_path == "/predict"
    assert service.liveness_path == "/livez"
    assert service.readiness_path == "/readyz"
    assert service.metrics_path == "/metrics"
    body = service.request_body
    assert body["sepal_length"] == 5.1  # the schema's example
    assert 0 <= body["sepal_width"] <= 10  # inside minimum/maximum
    assert body["species_hint"] == "setosa"  # the default
    assert "schema" in (service.body_source or "")
    assert ("GET /openapi.json", "3") not in service.declared_versions


def test_open_inference_v2_from_metadata() -> None:
    service, methods = run_detect(fakes.open_inference_app())
    assert "open-inference-v2" in service.names()
    assert set(methods) == {"GET"}
    assert service.model_name == "iris"  # from the metrics label
    assert service.predict_path == "/v2/models/iris/infer"
    tensor = service.request_body["inputs"][0]
    assert tensor["shape"] == [1, 4] and len(tensor["data"]) == 4
    assert tensor["datatype"] == "FP32"
    assert ("V2 model metadata", "7") in service.declared_versions
    # 400 on /v2/health/ready means not ready, so the route is present
    assert service.readiness_path == "/v2/health/ready"
    assert service.liveness_path == "/v2/health/live"


def test_mlflow_scoring_protocol() -> None:
    service, _ = run_detect(fakes.mlflow_app())
    match = next(m for m in service.protocols if m.protocol == "mlflow")
    assert match.confidence == "high"
    assert service.predict_path == "/invocations"
    assert service.request_body is None  # no schema: the CLI must ask for --input
    assert service.declared_versions == ()  # /version is MLflow's own version


def test_torchserve_with_management_api() -> None:
    service, methods = run_detect(fakes.torchserve_app(), model_name="resnet")
    assert "torchserve" in service.names()
    assert set(methods) == {"GET"}
    assert service.predict_path == "/predictions/resnet"
    assert ("TorchServe management API", "2.0") in service.declared_versions


def test_bentoml_from_server_header_and_docs() -> None:
    service, _ = run_detect(fakes.bentoml_app())
    match = next(m for m in service.protocols if m.protocol == "bentoml")
    assert match.confidence == "high"
    assert service.predict_path == "/classify"
    assert service.request_body == {"input_series": [1.0, 1.0, 1.0, 1.0]}


def test_ray_serve_routes() -> None:
    service, _ = run_detect(fakes.ray_serve_app(), predict_path="/predict")
    assert "ray-serve" in service.names()
    assert service.liveness_path == "/-/healthz"
    assert service.predict_reason == "--predict-path"


@pytest.mark.parametrize("given", [{"x": 1}, [1, 2, 3]])
def test_input_body_wins_over_schema(given: Any) -> None:
    service, _ = run_detect(fakes.fastapi_app(), input_body=given, input_source="ex.json")
    assert service.request_body == given
    assert service.body_source == "ex.json"


def test_several_protocols_on_one_url() -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    both = Starlette(
        routes=[Mount("/", routes=[*fakes.mlflow_app().routes, *fakes.open_inference_app().routes])]
    )
    service, _ = run_detect(both)
    assert {"mlflow", "open-inference-v2"} <= set(service.names())
