"""What the LIVE rules share: the measured-rule base class and evidence helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infermedic.model import Evidence, EvidenceKind, Finding, Notification, NotificationLevel
from infermedic.probe.http import Redactor
from infermedic.probe.observations import BlockingObservation, Latency, ProbeObservations
from infermedic.probe.plan import Thresholds
from infermedic.rules import Rule

# Observations are redacted when they are built; evidence still takes the generic pass
# (URL userinfo, auth headers) every report applies.
REDACT = Redactor(())


class MeasuredRule(Rule):
    """A LIVE rule: judges a probe run's observations, in `check`; yields its findings and a
    notification where it could not judge or has something to say."""

    measured = True

    def check(self, observations: ProbeObservations) -> Iterable[Finding | Notification]:
        raise NotImplementedError

    def note(
        self,
        message: str,
        *,
        level: NotificationLevel = NotificationLevel.NOTE,
        underpowered: bool = False,
    ) -> Notification:
        return Notification(level=level, rule=self.code, message=message, underpowered=underpowered)


def measurement(action: str, observed: str, **values: Any) -> Evidence:
    return Evidence(kind=EvidenceKind.MEASUREMENT, action=action, observed=observed, values=values)


def latency_text(hist: Latency) -> str:
    return hist.text()


def canary_inflated(blocking: BlockingObservation, limits: Thresholds) -> bool:
    """The health canary's p99 service time under predict load is both `blocking_ratio`×
    and `blocking_min_ms` above its idle p99.

    Service time (from the actual send), not CO-corrected latency: the canary shares the
    probe's event loop with the predict load, and the probe's own lateness must not count.
    """
    idle = blocking.idle.service.percentile_ms(99)
    loaded = blocking.loaded.service.percentile_ms(99)
    return loaded >= limits.blocking_ratio * idle and loaded - idle >= limits.blocking_min_ms


def speedup(blocking: BlockingObservation) -> float:
    """Throughput at concurrency N over throughput at 1."""
    single = blocking.single.throughput
    return blocking.concurrent.throughput / single if single > 0 else float("nan")


def blocking_evidence(obs: ProbeObservations, blocking: BlockingObservation) -> list[Evidence]:
    base = obs.base_url
    predict = obs.predict_path
    single, concurrent = blocking.single, blocking.concurrent
    return [
        measurement(
            f"GET {base}{blocking.health_path} at {blocking.canary_rate:g}/s, idle",
            latency_text(blocking.idle.service),
            p10_ms=round(blocking.idle.service.percentile_ms(10), 3),
            **blocking.idle.service.summary(),
        ),
        measurement(
            f"GET {base}{blocking.health_path} at {blocking.canary_rate:g}/s while POST {predict} "
            f"runs at concurrency {concurrent.concurrency}",
            latency_text(blocking.loaded.service),
            p10_ms=round(blocking.loaded.service.percentile_ms(10), 3),
            **blocking.loaded.service.summary(),
        ),
        measurement(
            f"POST {base}{predict} closed loop at concurrency 1 and {concurrent.concurrency}",
            f"{single.throughput:.1f} → {concurrent.throughput:.1f} req/s "
            f"(×{speedup(blocking):.2f}); mean latency {single.mean_ms:.1f} → "
            f"{concurrent.mean_ms:.1f} ms",
            single=single.to_dict(),
            concurrent=concurrent.to_dict(),
        ),
    ]
