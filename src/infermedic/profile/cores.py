"""The CPU cores this process may actually use: affinity and the cgroup quota, not `cpu_count`."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True, slots=True)
class AvailableCores:
    """How many cores a worker can use, and where each limit came from."""

    cores: int
    affinity: int
    cgroup_quota: float | None  # cores allowed by cpu.max / cfs_quota, None when unlimited
    cpu_count: int | None

    def describe(self) -> str:
        quota = "none" if self.cgroup_quota is None else f"{self.cgroup_quota:g}"
        return (
            f"{self.cores} core(s): affinity {self.affinity}, cgroup quota {quota}, "
            f"os.cpu_count() {self.cpu_count}"
        )


def cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """Cores allowed by the cgroup CPU quota (v2 `cpu.max`, else v1 `cfs_quota_us`)."""
    try:
        text = (root / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        if text:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cores(root: Path = Path("/sys/fs/cgroup")) -> AvailableCores:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    count = os.cpu_count()
    affinity = affinity or count or 1
    quota = cgroup_quota(root)
    cores = affinity if quota is None else max(1, min(affinity, math.ceil(quota)))
    return AvailableCores(cores=cores, affinity=affinity, cgroup_quota=quota, cpu_count=count)
