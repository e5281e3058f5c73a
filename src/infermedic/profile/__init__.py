"""Where a model's time and memory go: `profile_model(...)` offline, `sample_process(pid)` live.

The package namespace is loaded lazily (PEP 562): the rule catalogue imports this package's
`rules` subpackage on every command, and must not pay for the engine (DuckDB, scipy, HTTP
clients) to do so. The engine lives in `api.py`.

Two processes, two sets of modules (tests/core/test_imports.py keeps them apart):
- worker side, the `worker/` subpackage, run by `python -m infermedic.profile.worker`: the
  only place a model is loaded and called (loaders per format, inputs, the measured phases,
  timing, thread sweep, GPU, alternatives, in-process sampling);
- parent side, which supervises the worker, reads its JSON lines and judges: `api`, `engine`,
  `runner`, `supervise`, `assemble`, `context`, `cores`, `rules/`, and for a running service
  `live` (py-spy under load) and `live_verdicts`;
- shared: `config`, `detect`, the JSON-lines `protocol`, and py-spy (`pyspy`, `stacks`,
  `attribution`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from infermedic.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "infermedic.profile.api"))
