"""Where a model's time and memory go: `profile_model(...)` offline, `sample_process(pid)` live.

The package namespace is loaded lazily (PEP 562): the rule catalogue imports this package's
`rules` subpackage on every command, and must not pay for the engine (DuckDB, scipy, HTTP
clients) to do so. The engine lives in `api.py`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infermedic.profile.api import (
        MeasurePlan,
        ProfileIncomplete,
        ProfileThresholds,
        profile_model,
        raise_if_incomplete,
        sample_process,
    )

__all__ = [
    "MeasurePlan",
    "ProfileIncomplete",
    "ProfileThresholds",
    "profile_model",
    "raise_if_incomplete",
    "sample_process",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:  # submodules (`from infermedic.drift import stats`) load as usual
        raise AttributeError(name)
    api = importlib.import_module("infermedic.profile.api")
    try:
        return getattr(api, name)
    except AttributeError:
        raise AttributeError(f"module 'infermedic.profile' has no attribute {name!r}") from None
