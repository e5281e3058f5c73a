"""LIVE003: the first prediction is much slower than steady state."""

from __future__ import annotations

import math
import statistics

from infermedic.model import Effect, Finding, Notification, Severity
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules.base import REDACT, MeasuredRule, measurement

STANDALONE_EXCESS_MS = 250.0


class ColdStart(MeasuredRule):
    """Cold start.

    ## What it does
    Checks whether the first predictions the probe sends are much slower than the same
    request in steady state: lazy model loading, JIT compilation or caches filled on first
    use, while the readiness endpoint already said ready.

    ## Why is this bad?
    Every new replica (deploy, scale-up, restart after OOM) serves its first users seconds
    late, and those requests often time out. Readiness should wait for warm-up.

    ## How it's measured
    - Statistic: latency of the probe's first `POST <predict>` (the known-good request)
      against the median latency of the later requests (load run, else repeats).
    - Window: the first `cold-start-requests` (3) predictions vs the rest of the run.
    - Minimum samples: `min-samples` (20) steady-state requests (5 repeats without load).
    - Default threshold: the slowest first request ≥ `cold-start-ratio` (3)× the steady
      median and ≥ `cold-start-min-ms` (50 ms) above it.

    ## Options
    `cold-start-ratio`, `cold-start-min-ms`, `cold-start-requests` in
    `[tool.infermedic.probe]`.

    ## Known problems
    The probe sees a cold start only if it is the first client after the service started.
    """

    code = "LIVE003"
    name = "cold-start"
    severity = Severity.MEDIUM
    summary = "The first requests are much slower than steady state (no warm-up)."
    risk = "New replicas serve their first users slowly or time out; readiness lies."
    fix = (
        "Load and warm the model up (one dummy prediction per input shape) at start-up, "
        "and keep `/readyz` failing until warm-up is done."
    )
    checklist = ("D-23",)

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        contract = obs.contract
        limits = obs.thresholds
        if contract is None or contract.prediction is None or not contract.prediction.ok:
            return []
        first = [contract.prediction.elapsed_s * 1000.0]
        first += [e.elapsed_s * 1000.0 for e in obs.repeats if e.ok]
        first = first[: limits.cold_start_requests]
        if obs.load is not None and obs.load.service.count >= limits.min_samples:
            steady = obs.load.service.percentile_ms(50)
            tail = obs.load.service.percentile_ms(99)
            source = f"median service time of {obs.load.service.count} load requests"
        elif obs.blocking is not None and obs.blocking.single.requests >= limits.min_samples:
            steady = obs.blocking.single.p50_ms
            tail = obs.blocking.single.p99_ms
            source = f"median of {obs.blocking.single.requests} requests at concurrency 1"
        elif len(obs.repeats) >= 5:
            later = [e.elapsed_s * 1000.0 for e in obs.repeats[1:]]
            steady = statistics.median(later)
            tail = max(later)
            source = "median of the repeated requests"
        else:
            return []
        slowest = max(first)
        if (
            slowest < limits.cold_start_ratio * steady
            or slowest - steady < limits.cold_start_min_ms
        ):
            return []
        ready = contract.readiness
        said = (
            f"; readiness `{ready.method} {ready.url}` had answered {ready.status}"
            if ready is not None
            else ""
        )
        message = (
            f"the first prediction took {slowest:.0f} ms against a steady-state median of "
            f"{steady:.1f} ms ({slowest / steady:.0f}×){said}"
        )
        evidence = [contract.prediction.evidence(REDACT)]
        evidence.append(
            measurement(
                f"POST {obs.base_url}{obs.predict_path} (steady state)",
                f"{source}: {steady:.1f} ms",
                first_requests_ms=first,
                steady_p50_ms=steady,
            )
        )
        if ready is not None:
            evidence.insert(0, ready.evidence(REDACT))
        # The steady state's own tail, measured on the same host in the same run, is what
        # the host's noise does to one request: a first request twice as slow as the slowest
        # steady-state percentile is beyond it and stands alone.
        # ... and a quarter of a second beyond it, so a fast model's first-call jitter (a few
        # ms over a tiny p99) never stands alone.
        effect = Effect(
            statistic="slowest first request / steady-state p99 (same host, same run; "
            f"stands alone only {STANDALONE_EXCESS_MS:g} ms or more beyond that p99)",
            value=slowest / tail if tail > 0 else 0.0,
            threshold=1.0,
            strong=2.0 if slowest - tail >= STANDALONE_EXCESS_MS else math.inf,
        )
        return [self.finding(obs.predict_location(), message, evidence=evidence, effect=effect)]
