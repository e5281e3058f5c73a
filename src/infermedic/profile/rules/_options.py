"""Shared reading of measured options for PROF006 and PROF007."""

from __future__ import annotations

from infermedic.profile.config import ProfileThresholds
from infermedic.profile.results import Parity


def parity_ok(parity: Parity | None, max_abs_diff: float, limits: ProfileThresholds) -> bool:
    """Outputs within `max_abs_diff` and, for classifiers, labels agreeing often enough."""
    if parity is None or not parity.comparable:
        return False
    if parity.max_abs_diff is None or parity.max_abs_diff > max_abs_diff:
        return False
    agreement = parity.label_agreement
    return agreement is None or agreement >= limits.parity_min_label_agreement
