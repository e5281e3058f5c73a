"""The model registry: `models:/churn/<version or latest>` or `models:/churn@alias`, loaded
from the MLflow registry that `MLFLOW_TRACKING_URI` names.
"""

from __future__ import annotations

import mlflow.sklearn
from mlflow import MlflowClient
from sklearn.pipeline import Pipeline

from .churn import MODEL_NAME


def resolve(uri: str) -> str:
    """The version a `models:/churn...` URI names, as the registry answers it now."""
    prefix = f"models:/{MODEL_NAME}"
    if not uri.startswith((prefix + "/", prefix + "@")):
        raise ValueError(f"not a {MODEL_NAME} model URI: {uri!r}")
    reference = uri.removeprefix(prefix)
    client = MlflowClient()
    if reference.startswith("@"):
        return str(client.get_model_version_by_alias(MODEL_NAME, reference[1:]).version)
    reference = reference.removeprefix("/")
    if reference == "latest":
        found = client.search_model_versions(f"name = '{MODEL_NAME}'")
        return str(max(int(v.version) for v in found))
    return str(client.get_model_version(MODEL_NAME, reference).version)


def load_model(uri: str) -> tuple[Pipeline, str]:
    """The model `uri` names and its version."""
    version = resolve(uri)
    model: Pipeline = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}")
    return model, version
