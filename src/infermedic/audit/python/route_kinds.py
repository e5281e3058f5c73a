"""What a route is for, read from its path and handler name: serving predictions, training,
taking uploads, managing the model. Rules about the prediction path skip the others."""

from __future__ import annotations

import re

from infermedic.audit.python.routes import RouteInfo

# A route whose words say it predicts is a prediction route whatever else it says.
_PREDICTION_WORDS = frozenset(
    {"predict", "prediction", "predictions", "infer", "inference", "invocations", "score"}
    | {"classify", "generate", "completions", "embed", "embeddings", "forecast", "detect"}
)
_TRAINING_WORDS = frozenset(
    {"train", "training", "retrain", "fit", "finetune", "tune", "tuning", "experiment"}
)
_UPLOAD_WORDS = frozenset(
    {"upload", "uploads", "ingest", "import", "dataset", "datasets", "feedback", "label"}
    | {"labels", "annotate", "annotation", "annotations"}
)
# Routes that load a model on purpose: an operator swapping or reloading it.
_MODEL_ADMIN_WORDS = frozenset(
    {"reload", "load", "deploy", "swap", "refresh", "register", "promote", "rollback"}
)


def route_words(route: RouteInfo) -> set[str]:
    """The words of the route's path and handler name: `/api/retrainModel` and
    `upload_csv` → api, retrain, model, upload, csv."""
    text = f"{route.path} {route.function.name}"
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return set(re.findall(r"[a-z]+", spaced.lower()))


def is_prediction_route(route: RouteInfo) -> bool:
    return bool(route_words(route) & _PREDICTION_WORDS)


def is_training_or_upload_route(route: RouteInfo) -> bool:
    """A route that trains a model or stores what the client sent: its writes are the job."""
    words = route_words(route)
    return not words & _PREDICTION_WORDS and bool(words & (_TRAINING_WORDS | _UPLOAD_WORDS))


def is_model_loading_route(route: RouteInfo) -> bool:
    """A route that trains or (re)loads a model by design: loading there is the job."""
    words = route_words(route)
    return not words & _PREDICTION_WORDS and bool(words & (_TRAINING_WORDS | _MODEL_ADMIN_WORDS))


# Readiness and health route names, shared by SVC010 and SVC011 (kept here, below the
# rules package, so a rule's helper module can use them without importing the rules).
_READY_WORDS = frozenset({"ready", "readyz", "readiness", "startup", "startupz", "warm", "warmup"})
_HEALTH_WORDS = frozenset(
    {"health", "healthz", "healthcheck", "healthy", "live", "livez", "liveness", "alive"}
    | {"ping", "heartbeat", "hc"}
)


def _path_words(path: str) -> list[str]:
    """The words of a route path: `/api/v1/healthCheck` → api, v, health, check."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", path)
    return re.findall(r"[a-z]+", spaced.lower())


def is_readiness_path(path: str) -> bool:
    """`/ready`, `/readyz`, `/readiness`, `/health/ready`, `/startup` (whole words only)."""
    return any(word in _READY_WORDS for word in _path_words(path))


def is_health_path(path: str) -> bool:
    """`/health`, `/healthz`, `/livez`, `/ping`, `/heartbeat`, a bare `/status`; not
    `/deliver` or `/liver-segmentation`, nor `/jobs/{id}/status`."""
    words = _path_words(path)
    if any(word in _HEALTH_WORDS for word in words):
        return True
    segments = [s for s in path.strip("/").split("/") if s]
    return (
        bool(segments) and segments[-1].lower() == "status" and "{" not in path and "<" not in path
    )
