"""Small in-process fakes of each serving protocol, built from serving.md §1."""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

METRICS_TEXT = (
    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
    "# TYPE process_resident_memory_bytes gauge\n"
    "process_resident_memory_bytes 1.048576e+08\n"
    "# HELP inference_model_info Served model.\n"
    "# TYPE inference_model_info gauge\n"
    'inference_model_info{model_name="iris",model_version="3"} 1.0\n'
)


class Features(BaseModel):
    sepal_length: float = Field(ge=0, le=10, examples=[5.1])
    sepal_width: float = Field(ge=0, le=10)
    species_hint: Literal["setosa", "virginica"] = "setosa"


def fastapi_app(
    *,
    version: str = "3",
    api_key: str | None = None,
    echo_key: bool = False,
    metrics: str = METRICS_TEXT,
) -> FastAPI:
    """A well-behaved FastAPI model service (validation, health split, metrics)."""
    app = FastAPI(title="iris")

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/metrics")
    async def metrics_route() -> Response:
        return PlainTextResponse(metrics)

    @app.post("/predict")
    async def predict(
        features: Features, x_api_key: str | None = Header(default=None)
    ) -> dict[str, Any]:
        if api_key is not None and x_api_key != api_key:
            raise HTTPException(status_code=401, detail="missing or bad API key")
        score = features.sepal_length * 0.3 + features.sepal_width * 0.1
        body: dict[str, Any] = {"prediction": round(score, 6), "model_version": version}
        if echo_key:
            body["seen_key"] = x_api_key
        return body

    return app


def fragile_app() -> FastAPI:
    """No validation: reads the raw JSON and fails with 500 on anything unexpected."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
            value = float(data["x"]) * 2.0
            if math.isnan(value) or abs(value) > 1e300:
                raise ValueError("Input contains NaN or a value too large")
        except Exception as exc:  # the planted fault: every problem becomes a 500
            raise HTTPException(status_code=500, detail=str(exc)) from exc
        return {"prediction": value}

    return app


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def open_inference_app(*, ready: bool = False) -> Starlette:
    """Triton-like: empty-bodied health answered by status; not ready is 400."""
    metadata = {
        "name": "iris",
        "versions": ["7"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input0", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "output0", "datatype": "FP32", "shape": [-1, 3]}],
    }

    async def infer(request: Request) -> Response:
        body = await request.json()
        rows = body["inputs"][0]["shape"][0]
        return _json(
            {
                "model_name": "iris",
                "model_version": "7",
                "outputs": [
                    {
                        "name": "output0",
                        "shape": [rows, 3],
                        "datatype": "FP32",
                        "data": [0.1, 0.2, 0.7] * rows,
                    }
                ],
            }
        )

    return Starlette(
        routes=[
            Route(
                "/v2",
                lambda r: _json(
                    {"name": "triton", "version": "2.40.0", "extensions": ["statistics"]}
                ),
            ),
            Route("/v2/health/live", lambda r: Response(status_code=200)),
            Route("/v2/health/ready", lambda r: Response(status_code=200 if ready else 400)),
            Route("/v2/models/iris", lambda r: _json(metadata)),
            Route("/v2/models/iris/infer", infer, methods=["POST"]),
            Route(
                "/metrics",
                lambda r: PlainTextResponse(
                    "# TYPE nv_inference_request_success counter\n"
                    'nv_inference_request_success{model="iris",version="7"} 3\n'
                ),
            ),
        ]
    )


def mlflow_app() -> Starlette:
    async def invocations(request: Request) -> Response:
        body = await request.json()
        if "dataframe_split" not in body:
            return _json({"error_code": "BAD_REQUEST", "message": "use dataframe_split"}, 400)
        return _json({"predictions": [1] * len(body["dataframe_split"]["data"])})

    return Starlette(
        routes=[
            Route("/ping", lambda r: Response("\n", media_type="application/json")),
            Route("/health", lambda r: Response("\n", media_type="application/json")),
            Route("/version", lambda r: PlainTextResponse("2.9.2")),
            Route("/invocations", invocations, methods=["POST"]),
        ]
    )


def torchserve_app() -> Starlette:
    not_found = {
        "code": 404,
        "type": "ResourceNotFoundException",
        "message": "Requested resource is not found, please refer to API document.",
    }

    async def predictions(request: Request) -> Response:
        await request.body()
        return _json({"class": "cat", "probability": 0.9})

    return Starlette(
        routes=[
            Route("/ping", lambda r: _json({"status": "Healthy"})),
            Route("/predictions/resnet", predictions, methods=["POST"]),
            # the management API (port 8081 in real life; same app behind ASGITransport)
            Route(
                "/models",
                lambda r: _json({"models": [{"modelName": "resnet", "modelUrl": "resnet.mar"}]}),
            ),
            Route(
                "/models/resnet",
                lambda r: _json(
                    [
                        {
                            "modelName": "resnet",
                            "modelVersion": "2.0",
                            "workers": [],
                            "jobQueueStatus": {"remainingCapacity": 100, "pendingRequests": 0},
                        }
                    ]
                ),
            ),
        ],
        exception_handlers={404: lambda r, e: _json(not_found, 404)},
    )


def bentoml_app() -> Starlette:
    server = {"Server": "BentoML Service/iris_classifier"}
    docs = {
        "openapi": "3.0.2",
        "info": {"title": "iris_classifier", "version": "1.0"},
        "paths": {
            "/classify": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "input_series": {
                                            "type": "array",
                                            "items": {"type": "number"},
                                            "minItems": 4,
                                        }
                                    },
                                    "required": ["input_series"],
                                }
                            }
                        }
                    }
                }
            }
        },
    }

    async def classify(request: Request) -> Response:
        body = await request.json()
        return _json([len(body["input_series"]) % 3], headers=server)

    return Starlette(
        routes=[
            Route("/livez", lambda r: PlainTextResponse("\n", headers=server)),
            Route("/healthz", lambda r: PlainTextResponse("\n", headers=server)),
            Route("/readyz", lambda r: PlainTextResponse("\n", headers=server)),
            Route("/docs.json", lambda r: _json(docs, headers=server)),
            Route("/classify", classify, methods=["POST"]),
        ]
    )


def ray_serve_app() -> Starlette:
    async def predict(request: Request) -> Response:
        await request.body()
        return _json({"result": 1})

    return Starlette(
        routes=[
            Route("/-/healthz", lambda r: PlainTextResponse("success")),
            Route("/-/routes", lambda r: _json({"/": "default"})),
            Route("/predict", predict, methods=["POST"]),
        ]
    )
