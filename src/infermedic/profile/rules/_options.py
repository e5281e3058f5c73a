"""Shared reading of measured options for PROF006 and PROF007."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infermedic.profile.config import ProfileThresholds
from infermedic.profile.context import ProfileContext


def parity_ok(parity: Mapping[str, Any], max_abs_diff: float, limits: ProfileThresholds) -> bool:
    """Outputs within `max_abs_diff` and, for classifiers, labels agreeing often enough."""
    if not parity.get("comparable"):
        return False
    if parity.get("max_abs_diff", float("inf")) > max_abs_diff:
        return False
    agreement = parity.get("label_agreement")
    return agreement is None or agreement >= limits.parity_min_label_agreement


def best_cell(option: Mapping[str, Any]) -> Mapping[str, Any] | None:
    cells = [c for c in option.get("cells", ()) if c.get("speedup")]
    return max(cells, key=lambda c: c["speedup"]) if cells else None


def measured_options(context: ProfileContext) -> list[Mapping[str, Any]]:
    """The options measured on the CPU and, for torch models on a GPU, on the device."""
    found: list[Mapping[str, Any]] = []
    for phase in ("options", "gpu"):
        result = context.phase(phase)
        if result is not None:
            found.extend(result.get("options", ()))
    return found
