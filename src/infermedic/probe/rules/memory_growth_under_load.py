"""LIVE008: the service's resident memory keeps growing while it serves the probe's load."""

from __future__ import annotations

import statistics

from infermedic.model import Finding, Notification, NotificationLevel, Severity
from infermedic.probe.context import ProbeContext
from infermedic.probe.rules.base import MeasuredRule, measurement

MIB = 1024.0 * 1024.0
MIN_MEMORY_SAMPLES = 6


class MemoryGrowthUnderLoad(MeasuredRule):
    """Memory growth under load.

    ## What it does
    Checks the service process's resident memory (psutil when `--pid` is given, else
    `process_resident_memory_bytes` from `/metrics`) sampled about once a second from the
    start of the load to the end of the run.

    ## Why is this bad?
    Memory that grows with request count (a cache without bound, appending each request to
    a list, tensors kept alive) ends in an OOM kill: lost in-flight requests, a cold start,
    and a restart loop under steady traffic.

    ## How it's measured
    - Statistic: the median of the last 3 samples minus the first sample, and the share of
      that growth made in the second half of the run.
    - Window: from the start of the load run to the end of the probe (≈1 s samples).
    - Minimum samples: 6 (fewer cannot tell a leak from a warm-up plateau).
    - Default threshold: growth ≥ `memory-growth-mb` (20 MiB) and ≥
      `memory-growth-fraction` (10 %) of the starting size, with at least
      `memory-late-growth-share` (25 %) of it in the second half.

    ## Options
    `memory-growth-mb`, `memory-growth-fraction`, `memory-late-growth-share` in
    `[tool.infermedic.probe]`.

    ## Known problems
    Allocators keep freed memory; a one-off growth to a plateau (a warm cache) can pass the
    threshold in a short run. Run longer to see whether it levels off.
    """

    code = "LIVE008"
    name = "memory-growth-under-load"
    severity = Severity.HIGH
    summary = "Resident memory grows with the requests served."
    risk = "The process ends in an OOM kill and a restart loop under steady traffic."
    fix = (
        "Bound every per-request cache (`functools.lru_cache(maxsize=...)`), never append "
        "requests to module-level lists, and release tensors/arrays after each request."
    )

    def evaluate(self, ctx: ProbeContext) -> list[Finding]:
        samples = ctx.memory
        limits = ctx.thresholds
        if len(samples) < MIN_MEMORY_SAMPLES:
            return []
        start = samples[0].rss_bytes
        end = statistics.median(s.rss_bytes for s in samples[-3:])
        growth = end - start
        if growth < limits.memory_growth_mb * MIB or growth < limits.memory_growth_fraction * start:
            return []
        middle = statistics.median(s.rss_bytes for s in samples[len(samples) // 2 - 1 :][:3])
        late_growth = end - middle
        if late_growth < limits.memory_late_growth_share * growth:
            ctx.notifications.append(
                Notification(
                    level=NotificationLevel.NOTE,
                    rule=self.code,
                    message=(
                        f"resident memory grew {growth / MIB:.0f} MiB but levelled off "
                        f"(+{late_growth / MIB:.0f} MiB in the second half): a warm-up, not a leak"
                    ),
                )
            )
            return []
        elapsed = samples[-1].at_s - samples[0].at_s
        message = (
            f"resident memory grew {growth / MIB:.0f} MiB ({start / MIB:.0f} → {end / MIB:.0f} "
            f"MiB, +{growth / start:.0%}) in {elapsed:.0f} s of load"
        )
        evidence = measurement(
            samples[0].source,
            f"{len(samples)} samples: "
            + ", ".join(
                f"{s.at_s:.0f}s {s.rss_bytes / MIB:.0f} MiB"
                for s in samples[:: max(len(samples) // 8, 1)]
            ),
            start_mib=round(start / MIB, 1),
            end_mib=round(end / MIB, 1),
            growth_mib=round(growth / MIB, 1),
            samples=len(samples),
        )
        return [self.finding(ctx.location(None), message, evidence=[evidence])]
