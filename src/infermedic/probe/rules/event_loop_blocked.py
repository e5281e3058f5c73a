"""LIVE001: the service's event loop is blocked while it predicts."""

from __future__ import annotations

from infermedic.model import Effect, Finding, Notification, NotificationLevel, Severity
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules.base import (
    MeasuredRule,
    blocking_evidence,
    canary_inflated,
)


class EventLoopBlocked(MeasuredRule):
    """Event loop blocked by prediction.

    ## What it does
    Checks whether a cheap endpoint (the liveness route) slows down while the prediction
    route is under load, to the point of being slower than the predictions: the prediction
    runs on the event loop and blocks every other request.

    ## Why is this bad?
    An `async def` route that calls `model.predict()` synchronously stalls the whole worker:
    every concurrent request, the health check and the metrics scrape wait for it. Latency
    grows with load, throughput stays at one request at a time, and liveness probes time
    out under load so the orchestrator restarts healthy pods.

    ## How it's measured
    - Statistic: p99 service time of `GET <health>` sent open loop at the canary rate
      (default 50/s), idle and while `POST <predict>` runs closed loop at concurrency N
      (default 4); the p99 of those predictions.
    - Window: the blocking check's duration (default 3 s per phase).
    - Minimum samples: `min-samples` (20) canary requests in each phase.
    - Default threshold: loaded p99 ≥ `blocking-ratio` (3)× idle p99 and ≥
      `blocking-min-ms` (10 ms) above it, and ≥ `blocking-predict-ratio` (0.5)× the predict
      p99, and the canary's median ≥ `blocking-median-ratio` (2)× its idle median and ≥
      `blocking-predict-ratio`× the predictions' median: on a blocked loop the cheap request
      queues behind every prediction (its median rises to about a prediction's, and its
      tail ends up slower than the expensive request), while CPU or GIL contention from
      worker threads stretches the canary's tail but leaves its median a few GIL switch
      intervals, far below a prediction's (reported as a note).

    ## Options
    `blocking-ratio`, `blocking-min-ms`, `blocking-predict-ratio`, `blocking-median-ratio`,
    `min-samples` in
    `[tool.infermedic.probe]`.

    ## References
    - https://fastapi.tiangolo.com/async/
    - https://www.starlette.io/threadpool/
    """

    code = "LIVE001"
    name = "event-loop-blocked"
    severity = Severity.HIGH
    summary = "Prediction blocks the event loop: the health endpoint slows under predict load."
    risk = "Every request on the worker, health checks included, waits for each prediction."
    fix = (
        "Run the model call off the loop: make the route `def`, or "
        "`await run_in_threadpool(model.predict, x)` / `loop.run_in_executor(...)`."
    )
    checklist = ("D-03",)

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        blocking = obs.blocking
        limits = obs.thresholds
        if blocking is None:
            return []
        if min(blocking.idle.latency.count, blocking.loaded.latency.count) < limits.min_samples:
            return [
                Notification(
                    level=NotificationLevel.NOTE,
                    rule=self.code,
                    message="too few health-canary samples to judge event-loop blocking",
                    underpowered=True,
                )
            ]
        if not canary_inflated(blocking, limits):
            return []
        idle = blocking.idle.service.percentile_ms(99)
        loaded = blocking.loaded.service.percentile_ms(99)
        predict_tail = blocking.concurrent.p99_ms
        idle_median = blocking.idle.service.percentile_ms(50)
        loaded_median = blocking.loaded.service.percentile_ms(50)
        predict_median = blocking.concurrent.p50_ms
        rose = f"health p99 rose {idle:.1f} → {loaded:.1f} ms under predict load"
        # Blocked, the canary waits for the prediction in flight and those queued before it:
        # its median rises to about a prediction's, its tail past the predictions'. A loop
        # thread starved of the GIL by CPU-bound worker threads waits a few switch intervals
        # instead, and contention shared fairly only stretches the tail.
        innocent = None
        if loaded_median < limits.blocking_predict_ratio * predict_median:
            innocent = (
                f"{rose} but its median ({loaded_median:.1f} ms) stayed well below the "
                f"predictions' median ({predict_median:.1f} ms): worker threads contending "
                "for the GIL or CPU, not a blocked loop"
            )
        elif loaded_median < limits.blocking_median_ratio * max(idle_median, 0.5):
            innocent = (
                f"{rose} but its median stayed at {idle_median:.1f} → {loaded_median:.1f} ms: "
                "contention in the tail (GIL, CPU), not a blocked loop"
            )
        elif loaded < limits.blocking_predict_ratio * predict_tail:
            innocent = (
                f"{rose}, but stayed within the predictions' own p99 ({predict_tail:.1f} ms): "
                "CPU or GIL contention shared fairly, not a blocked loop"
            )
        if innocent is not None:
            return [Notification(level=NotificationLevel.NOTE, rule=self.code, message=innocent)]
        message = (
            f"`GET {blocking.health_path}` p99 (timed from the actual send) went from "
            f"{idle:.1f} ms idle to {loaded:.1f} ms "
            f"while `{obs.predict_path}` was loaded at concurrency "
            f"{blocking.concurrent.concurrency}, {loaded / predict_tail:.1f}× the predictions' "
            f"own p99 ({predict_tail:.1f} ms): the cheap request queues behind predictions, so "
            "the prediction blocks the event loop"
        )
        # The statistic that separates a blocked loop from contention: the canary's median
        # against the predictions'. Noise on the host slows both alike, so it cannot lift the
        # ratio; only queueing behind predictions brings a cheap request to a prediction's
        # time, which is why reaching 1 stands alone.
        effect = Effect(
            statistic="health canary median under load / predictions' median",
            value=loaded_median / predict_median if predict_median > 0 else 0.0,
            threshold=limits.blocking_predict_ratio,
            strong=1.0,
        )
        return [
            self.finding(
                obs.predict_location(),
                message,
                evidence=blocking_evidence(obs, blocking),
                effect=effect,
            )
        ]
