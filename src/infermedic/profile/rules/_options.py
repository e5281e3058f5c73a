"""Shared reading of measured options for PROF006 and PROF007."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infermedic.profile.config import ProfileThresholds


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
