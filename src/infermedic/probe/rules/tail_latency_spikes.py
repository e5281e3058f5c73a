"""LIVE004: p99 latency far above the median under a steady, moderate load."""

from __future__ import annotations

import math

from infermedic.model import Effect, Finding, Notification, NotificationLevel, Severity
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules.base import MeasuredRule, latency_text, measurement

MIN_P99_SAMPLES = 100


class TailLatencySpikes(MeasuredRule):
    """Tail latency spikes.

    ## What it does
    Checks whether the 99th percentile of prediction latency under the open-loop load is far
    above the median: a few requests are much slower than the typical one (slow upstream
    calls, GC pauses, lock contention, periodic stalls).

    ## Why is this bad?
    Users and upstream services with timeouts see the tail, not the median; a page that
    makes several predictions hits p99 often. Averages hide it.

    ## How it's measured
    - Statistic: p50 and p99 of latency measured from each request's intended send time
      (coordinated-omission free), in an HDR histogram.
    - Window: the whole open-loop run (`--rate` for `--duration`).
    - Minimum samples: 100 requests (so p99 is a measured value, not the max).
    - Default threshold: p99 ≥ `tail-ratio` (5)× p50 and ≥ `tail-min-ms` (50 ms) above it.
      When the generator fell behind its schedule, judged only if the tail exceeds three
      times its largest send lag (its lateness cannot explain it).

    ## Options
    `tail-ratio`, `tail-min-ms` in `[tool.infermedic.probe]`.
    """

    code = "LIVE004"
    name = "tail-latency-spikes"
    severity = Severity.MEDIUM
    summary = "p99 latency is far above p50: some requests are much slower than typical."
    risk = "Clients with timeouts fail on the tail; fan-out requests hit it often."
    fix = (
        "Find the slow stage (Server-Timing, LIVE012): put timeouts and retries with budgets "
        "on upstream calls, cache or prefetch them, and cap in-flight requests."
    )

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        load = obs.load
        limits = obs.thresholds
        if load is None:
            return []
        hist = load.latency
        if hist.count < MIN_P99_SAMPLES:
            return [
                Notification(
                    level=NotificationLevel.NOTE,
                    rule=self.code,
                    message=f"{hist.count} load requests are too few for a p99 (need "
                    f"{MIN_P99_SAMPLES}); raise --rate or --duration",
                    underpowered=True,
                )
            ]
        p50, p99 = hist.percentile_ms(50), hist.percentile_ms(99)
        lag_ms = load.max_lag_s * 1000.0
        if not load.trustworthy and p99 - p50 < 3 * lag_ms:
            return []  # the generator's own lateness could explain the tail
        if p99 < limits.tail_ratio * p50 or p99 - p50 < limits.tail_min_ms:
            return []
        message = (
            f"p99 latency {p99:.0f} ms is {p99 / p50:.0f}× the median {p50:.1f} ms at "
            f"{load.rate:g} req/s"
        )
        evidence = measurement(
            f"POST {obs.base_url}{obs.predict_path} open loop at {load.rate:g} req/s "
            f"for {load.duration_s:g} s",
            latency_text(hist),
            **hist.summary(),
        )
        # A busy host alone stretches the tail, so the ratio never stands alone.
        effect = Effect(
            statistic="p99 / p50 latency",
            value=p99 / p50 if p50 > 0 else math.inf,
            threshold=limits.tail_ratio,
            strong=math.inf,
        )
        return [self.finding(obs.predict_location(), message, evidence=[evidence], effect=effect)]
