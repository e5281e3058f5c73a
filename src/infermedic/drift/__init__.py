"""Data and prediction drift: profile a reference once, compare current data against it.

The package namespace is loaded lazily (PEP 562): the rule catalogue imports this package's
`rules` subpackage on every command, and must not pay for the engine (DuckDB, scipy, HTTP
clients) to do so. The engine lives in `api.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from infermedic.lazy import lazy_exports

if TYPE_CHECKING:
    from infermedic.drift.api import (
        ColumnOptions,
        Correction,
        DatasetProfile,
        DriftOptions,
        drift,
        merge_profile_files,
        observe_drift,
        profile_dataset,
    )

__all__ = [
    "ColumnOptions",
    "Correction",
    "DatasetProfile",
    "DriftOptions",
    "drift",
    "merge_profile_files",
    "observe_drift",
    "profile_dataset",
]


__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "infermedic.drift.api"))


from infermedic._entry import make_callable  # noqa: E402 - after the entry point

make_callable(__name__)
