"""LIVE002: predictions run one at a time although the event loop stays free."""

from __future__ import annotations

import math

from infermedic.model import Effect, Finding, Notification, NotificationLevel, Severity
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules.base import (
    MeasuredRule,
    blocking_evidence,
    speedup,
)
from infermedic.probe.rules.event_loop_blocked import EventLoopBlocked


class SerializedInference(MeasuredRule):
    """Serialized inference.

    ## What it does
    Checks whether prediction throughput rises when more requests are in flight. When
    throughput at concurrency N equals throughput at 1 while latency grows about N-fold,
    and the health endpoint stays fast, requests are queued one at a time behind a lock,
    a one-thread pool or a one-request-at-a-time model server setting.

    ## Why is this bad?
    The service uses one core (or one accelerator stream) however many requests wait; every
    extra concurrent client only adds queueing delay. Capacity planning from a single-request
    benchmark overestimates what the service carries.

    ## How it's measured
    - Statistic: closed-loop throughput and mean latency of `POST <predict>` at concurrency 1
      and N (default 4), each over the blocking check's duration (default 3 s).
    - Minimum samples: a mean service time at concurrency 1 of at least
      `serial-min-service-ms` (5 ms), so fixed per-request overhead does not dominate.
    - Default threshold: speed-up < `serial-speedup` (1.5) and mean latency at N ≥ 0.6 ×
      N × the mean at 1, unless LIVE001 found the event loop blocked.

    ## Options
    `serial-speedup`, `serial-min-service-ms` in `[tool.infermedic.probe]`.

    ## Known problems
    A CPU-bound pure-Python model in a thread pool is also serialized by the GIL; the fix is
    then processes (workers/replicas), not threads.
    """

    code = "LIVE002"
    name = "serialized-inference"
    severity = Severity.MEDIUM
    summary = "Throughput does not rise with concurrency: predictions run one at a time."
    risk = "Capacity is one request at a time; extra load only adds queueing delay."
    fix = (
        "Remove the global lock around the model (models are usually safe to call "
        "concurrently), raise the thread/worker limit, or batch requests."
    )

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        blocking = obs.blocking
        limits = obs.thresholds
        if blocking is None or any(isinstance(r, Finding) for r in EventLoopBlocked().check(obs)):
            return []  # a blocked loop serializes too: LIVE001 names the cause
        single, concurrent = blocking.single, blocking.concurrent
        if single.requests < 3 or concurrent.requests < limits.min_samples / 2:
            return []
        if single.mean_ms < limits.serial_min_service_ms:
            return [
                Notification(
                    level=NotificationLevel.NOTE,
                    rule=self.code,
                    message=(
                        f"predict takes {single.mean_ms:.1f} ms at concurrency 1, under "
                        f"{limits.serial_min_service_ms:g} ms: too fast to judge serialization"
                    ),
                    underpowered=True,
                )
            ]
        gain = speedup(blocking)
        grows = concurrent.mean_ms >= 0.6 * concurrent.concurrency * single.mean_ms
        if gain >= limits.serial_speedup or not grows:
            return []
        message = (
            f"throughput stayed at {single.throughput:.1f} → {concurrent.throughput:.1f} req/s "
            f"from concurrency 1 to {concurrent.concurrency} while mean latency grew "
            f"{single.mean_ms:.1f} → {concurrent.mean_ms:.1f} ms and the health endpoint stayed "
            "fast: predictions are serialized"
        )
        # Latency growing with concurrency is what a busy host does to any CPU-bound model
        # too, so this effect never stands alone: it corroborates a lock seen in the stacks.
        effect = Effect(
            statistic="mean latency at concurrency N / (N × mean at 1)",
            value=concurrent.mean_ms / (concurrent.concurrency * single.mean_ms),
            threshold=0.6,
            strong=math.inf,
        )
        return [
            self.finding(
                obs.predict_location(),
                message,
                evidence=blocking_evidence(obs, blocking),
                effect=effect,
            )
        ]
