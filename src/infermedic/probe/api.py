"""Live diagnosis of a running model service: `probe(target, plan) -> Report`."""

from __future__ import annotations

from infermedic.probe.engine import ProgressCallback, probe
from infermedic.probe.plan import CheckName, ProbePlan, Thresholds

__all__ = ["CheckName", "ProbePlan", "ProgressCallback", "Thresholds", "probe"]
