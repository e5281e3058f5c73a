"""A model loaded in the worker and how to call it: the types every loader returns (the
generic loaders, the boosters, torch, MLflow) and the helpers they share."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infermedic.profile.mlflow_model import SignatureColumn


class LoadFailure(Exception):
    """Why the model could not be loaded; `kind` tells the parent which error to raise."""

    def __init__(self, kind: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.kind = (
            kind  # "missing-module" | "corrupt" | "engine-unavailable" | "unsupported" | "error"
        )
        self.hint = hint


@dataclass(kw_only=True)
class OnnxInput:
    name: str
    shape: tuple[int | str | None, ...]
    element_type: str  # "tensor(float)", ...


@dataclass(kw_only=True)
class LoadedModel:
    """A loaded model and how to call it. `call(batch)` returns the model's raw output."""

    kind: str  # "sklearn", "onnx", "callable", "object", "xgboost", "lightgbm", "torch"
    obj: Any
    method: str  # the method called, e.g. "predict_proba"; "run" for ONNX; "__call__"
    call: Callable[[Any], Any]
    is_classifier: bool = False
    n_features: int | None = None
    feature_names: tuple[str, ...] | None = None
    onnx_inputs: tuple[OnnxInput, ...] = ()
    saved_with: dict[str, str] = field(default_factory=dict)
    loaded_with: dict[str, str] = field(default_factory=dict)
    version_warnings: list[dict[str, str]] = field(default_factory=list)
    load_warnings: list[str] = field(default_factory=list)
    # torch only: whether the module runs in training mode (dropout live); None elsewhere.
    training: bool | None = None
    # MLflow only: the MLmodel signature's inputs, which rows are synthesised from.
    signature: tuple[SignatureColumn, ...] = ()
    # Features a tree model splits on as categories; standard-normal rows would not fit them.
    categorical_features: tuple[str, ...] = ()


def library_versions(*names: str) -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in names:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None) if module is not None else None
        if isinstance(version, str):
            versions[name] = version
    return versions


def native_error(exc: Exception) -> str:
    """A native library's error on one line, without the C++ stack trace XGBoost appends."""
    text = " ".join(str(exc).split("Stack trace:")[0].split())
    # XGBoost prefixes its messages with a timestamp and the C++ source line that raised.
    text = re.sub(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: ", "", text)
    return text[:400] or type(exc).__name__
