"""Operational endpoints: liveness, readiness, Prometheus metrics and the served version."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

PREDICTIONS = Counter("churn_predictions_total", "Predictions served.", ["model_version"])
PREDICT_SECONDS = Histogram("churn_predict_duration_seconds", "Time spent in /predict.")


def ops_router(
    *, is_ready: Callable[[], bool], model_version: Callable[[], str], model_name: str
) -> APIRouter:
    """`/health` answers while the process lives; `/ready` only once `is_ready()` is true."""
    router = APIRouter()

    @router.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready")
    def ready(response: Response) -> dict[str, str]:
        if not is_ready():
            response.status_code = 503
            return {"status": "loading"}
        return {"status": "ready"}

    @router.get("/version")
    def version() -> dict[str, str]:
        return {"model_name": model_name, "model_version": model_version()}

    @router.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
