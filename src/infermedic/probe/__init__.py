"""Live diagnosis of a running model service: `probe(target, plan) -> Report`.

The package namespace is loaded lazily (PEP 562): the rule catalogue imports this package's
`rules` subpackage on every command, and must not pay for the engine (DuckDB, scipy, HTTP
clients) to do so. The engine lives in `api.py`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infermedic.probe.api import (
        CheckName,
        ProbePlan,
        ProgressCallback,
        Thresholds,
        probe,
    )

__all__ = ["CheckName", "ProbePlan", "ProgressCallback", "Thresholds", "probe"]


def __getattr__(name: str) -> Any:
    if name not in __all__:  # submodules (`from infermedic.drift import stats`) load as usual
        raise AttributeError(name)
    api = importlib.import_module("infermedic.probe.api")
    try:
        return getattr(api, name)
    except AttributeError:
        raise AttributeError(f"module 'infermedic.probe' has no attribute {name!r}") from None


from infermedic._entry import make_callable  # noqa: E402 - after the entry point

make_callable(__name__)
