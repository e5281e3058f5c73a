"""LIVE008: the service's resident memory keeps growing while it serves the probe's load."""

from __future__ import annotations

import statistics

from infermedic.model import Finding, Notification, NotificationLevel, Severity
from infermedic.probe.context import ProbeContext
from infermedic.probe.rules.base import MeasuredRule, measurement

MIB = 1024.0 * 1024.0
MIN_MEMORY_SAMPLES = 6
RISE_EPSILON = 64 * 1024  # bytes; RSS moves in pages, smaller wiggles are noise


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
    - Statistic: the least-squares slope of resident memory over time during the probe,
      divided by the request rate, as growth per 10,000 requests; plus how steady the growth
      is (the share of successive samples that rise, and the correlation of memory with time).
    - Window: from the start of the load run to the end of the probe (≈1 s samples).
    - Minimum samples: 6 (fewer cannot tell a leak from a warm-up plateau).
    - Default threshold: projected growth ≥ `memory-growth-mb-per-10k` (100 MiB), total
      growth ≥ `memory-growth-mb` (5 MiB), at least `memory-steady-share` (60 %) of
      successive samples rising, and correlation ≥ `memory-min-correlation` (0.9).

    ## Options
    `memory-growth-mb`, `memory-growth-mb-per-10k`, `memory-steady-share`,
    `memory-min-correlation` in `[tool.infermedic.probe]`.

    ## Known problems
    A slow leak (a few KiB per request) grows in allocator-sized steps and needs a longer
    run than the default to show as steady growth. A cache that is filling towards a bound
    looks like a leak until it is full: run longer to see whether it levels off.
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
        times = [s.at_s for s in samples]
        rss = [s.rss_bytes for s in samples]
        if max(times) - min(times) <= 0 or max(rss) == min(rss):
            return []
        growth = rss[-1] - rss[0]
        slope, _ = statistics.linear_regression(times, rss)  # bytes per second
        correlation = statistics.correlation(times, rss)
        rising = sum(b > a + RISE_EPSILON for a, b in zip(rss, rss[1:], strict=False))
        steady_share = rising / (len(rss) - 1)
        rate = ctx.load.rate if ctx.load is not None else ctx.plan.rate
        per_10k = slope / rate * 10_000 if rate > 0 else 0.0
        if (
            growth < limits.memory_growth_mb * MIB
            or per_10k < limits.memory_growth_mb_per_10k * MIB
        ):
            return []
        if steady_share < limits.memory_steady_share or correlation < limits.memory_min_correlation:
            ctx.notifications.append(
                Notification(
                    level=NotificationLevel.NOTE,
                    rule=self.code,
                    message=(
                        f"resident memory grew {growth / MIB:.0f} MiB, but in steps "
                        f"({steady_share:.0%} of samples rising, r={correlation:.2f}): an "
                        "allocator or thread arena warming up, not a leak; run longer to tell"
                    ),
                )
            )
            return []
        elapsed = samples[-1].at_s - samples[0].at_s
        message = (
            f"resident memory grew steadily {growth / MIB:.0f} MiB ({rss[0] / MIB:.0f} → "
            f"{rss[-1] / MIB:.0f} MiB) in {elapsed:.0f} s at {rate:g} req/s: about "
            f"{slope / rate / 1024:.0f} KiB per request, "
            f"{per_10k / MIB:.0f} MiB per 10,000 requests"
        )
        evidence = measurement(
            samples[0].source,
            f"{len(samples)} samples: "
            + ", ".join(
                f"{s.at_s:.0f}s {s.rss_bytes / MIB:.0f} MiB"
                for s in samples[:: max(len(samples) // 8, 1)]
            )
            + f"; {steady_share:.0%} rising, r={correlation:.2f}",
            start_mib=round(rss[0] / MIB, 1),
            end_mib=round(rss[-1] / MIB, 1),
            growth_mib=round(growth / MIB, 1),
            kib_per_request=round(slope / rate / 1024, 1) if rate > 0 else None,
            samples=len(samples),
        )
        return [self.finding(ctx.location(None), message, evidence=[evidence])]
