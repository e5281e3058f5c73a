"""Live diagnosis of a running model service: `probe(target, plan) -> Report`.

The package namespace is loaded lazily (PEP 562): the rule catalogue imports this package's
`rules` subpackage on every command, and must not pay for the engine (DuckDB, scipy, HTTP
clients) to do so. The engine lives in `api.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from infermedic.lazy import lazy_exports

if TYPE_CHECKING:
    from infermedic.probe.api import (
        CheckName,
        ProbePlan,
        ProgressCallback,
        Thresholds,
        probe,
    )

__all__ = ["CheckName", "ProbePlan", "ProgressCallback", "Thresholds", "probe"]


__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "infermedic.probe.api"))


from infermedic._entry import make_callable  # noqa: E402 - after the entry point

make_callable(__name__)
