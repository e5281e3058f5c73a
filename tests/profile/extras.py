"""Optional libraries (the torch, xgboost, lightgbm and mlflow extras) in the profile tests."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def optional_extra(name: str) -> ModuleType:
    """The library, or a skip where it is not installed; a failure instead where CI installed
    the extras and set INFERMEDIC_REQUIRE_EXTRAS, so a missing one never hides its tests."""
    if os.environ.get("INFERMEDIC_REQUIRE_EXTRAS"):
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(f"{name} is required: INFERMEDIC_REQUIRE_EXTRAS is set") from exc
    return pytest.importorskip(name)
