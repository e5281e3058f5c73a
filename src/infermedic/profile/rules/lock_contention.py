"""PROF014: a live service's request threads spend their time waiting on a lock."""

from __future__ import annotations

from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileContext, ProfileRule


class LockContention(ProfileRule):
    """## What it does
    Checks, from stack samples of a running service under load (py-spy), whether the
    threads that handle requests spend their samples waiting to acquire a lock inside the
    service's own code.

    ## Why is this bad?
    A lock around the model (often added "to be safe") serves concurrent requests one at a
    time: throughput stays flat as concurrency rises and every queued request adds its wait
    to the latency. The thread pool sits idle while the cores could work.

    ## How it's measured
    py-spy samples every thread with and without idle samples while load runs. For each
    worker thread, samples whose stack is inside the service's own code (a frame outside
    site-packages and the standard library) count as request samples; the idle ones whose
    innermost line acquires or waits on a lock (`with lock:`, `.acquire()`, `.wait()`) count
    as lock waits. Fires when lock waits are at least `lock-wait-share` (default 0.3) of the
    request samples, over at least `lock-min-samples` (default 50) request samples. The
    waiting lines (file:line) are the evidence.

    ## Known problems
    A pool thread waiting for work is not counted (its stack has no service frame), but a
    service that waits on its own queue for a batch looks the same as lock contention.
    """

    code: ClassVar[str] = "PROF014"
    name: ClassVar[str] = "lock-contention"
    severity: ClassVar[Severity] = Severity.HIGH
    summary: ClassVar[str] = "Request threads spend their time waiting on a lock."
    fix: ClassVar[str] = (
        "Remove the lock around the model call (scikit-learn, ONNX Runtime and torch "
        "inference are safe to call concurrently), or give each worker its own model copy."
    )
    risk: ClassVar[str] = "Requests are served one at a time; latency grows with concurrency."

    def check(self, context: ProfileContext) -> list[Finding]:
        live = context.phase("live")
        if live is None:
            return []
        workers = [t for t in live.get("threads", []) if not t.get("event_loop")]
        waits = sum(int(t.get("lock_wait_samples", 0)) for t in workers)
        requests = sum(int(t.get("request_samples", 0)) for t in workers)
        limits = context.thresholds
        if requests < limits.lock_min_samples or waits < limits.lock_wait_share * requests:
            return []
        frames: dict[str, int] = {}
        for thread in workers:
            for frame, count in thread.get("lock_wait_frames", {}).items():
                frames[frame] = frames.get(frame, 0) + int(count)
        top = sorted(frames.items(), key=lambda item: -item[1])[:3]
        where = "; ".join(f"{frame} ({count} samples)" for frame, count in top)
        message = (
            f"request threads waited on a lock in {waits / requests:.0%} of {requests} samples "
            f"inside the service's code, at {where}"
        )
        evidence = context.evidence(
            "py-spy record of every thread, idle samples included",
            lock_wait_samples=waits,
            request_samples=requests,
            lock_wait_share=round(waits / requests, 3),
            frames=dict(top),
        )
        return [self.finding(context.location, message, evidence=[evidence])]
