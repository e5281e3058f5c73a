"""A small model registry: `models:/churn/<version or alias>` to a trained model.

Versions are trained from their own seeded sample, as the training job did; aliases point
at versions the way the registry's UI shows them.
"""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from .churn import MODEL_NAME, train_model

# version -> training seed
VERSIONS = {"1": 1, "2": 2, "3": 3, "4": 41}
ALIASES = {"champion": "3", "challenger": "4", "latest": "4"}


def resolve(uri: str) -> str:
    """The version a `models:/churn/...` URI names."""
    prefix = f"models:/{MODEL_NAME}/"
    if not uri.startswith(prefix):
        raise ValueError(f"not a {MODEL_NAME} model URI: {uri!r}")
    reference = uri.removeprefix(prefix)
    version = ALIASES.get(reference, reference)
    if version not in VERSIONS:
        raise ValueError(f"no version {reference!r} of {MODEL_NAME}")
    return version


def load_model(uri: str) -> tuple[Pipeline, str]:
    """The model `uri` names and its version."""
    version = resolve(uri)
    return train_model(seed=VERSIONS[version]), version
