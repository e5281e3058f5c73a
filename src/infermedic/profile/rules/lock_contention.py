"""PROF014: a live service's request threads spend their time waiting on a lock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.attribution import ShareTest, share_test
from infermedic.profile.config import ProfileThresholds
from infermedic.profile.context import ProfileObservations, ProfileRule
from infermedic.profile.live_results import LiveSummary


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
    as lock waits. Fires when the lower end of the 95% Wilson interval of the lock-wait
    share is at least `lock-wait-share` (default 0.3), over at least `lock-min-samples`
    (default 50) request samples; otherwise a notification says whether the reading was
    inconclusive or lacked samples. The three lines waited at most (file:line), with their
    shares, are the evidence.

    ## Known problems
    A pool thread waiting for work is not counted (its stack has no service frame), but a
    service that waits on its own queue for a batch looks the same as lock contention.
    Successive samples of one wait are not independent, so the interval is narrower than
    the truth.
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
    phases: ClassVar[tuple[str, ...]] = ("live",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        live = observations.live
        if live is None:
            return
        test = lock_wait_test(live, observations.thresholds)
        if test.verdict != "fires":
            return
        frames: dict[str, int] = {}
        for thread in live.request_threads():
            for frame, count in thread.lock_wait_frames.items():
                frames[frame] = frames.get(frame, 0) + int(count)
        floor = max(2, 0.01 * test.samples)
        ranked = sorted(frames.items(), key=lambda item: (-item[1], item[0]))
        top = [(frame, count) for frame, count in ranked if count >= floor][:3]
        where = "; ".join(
            f"{count / test.samples:.0%} at {frame} ({count} samples)" for frame, count in top
        )
        message = (
            f"request threads waited on a lock in {test.share:.0%} of {test.samples} samples "
            f"inside the service's code ({test.interval()}, lower end must reach "
            f"{test.threshold:.0%}): {where}"
        )
        evidence = observations.evidence(
            "py-spy record of every thread, idle samples included",
            criterion=test.criterion(),
            **test.as_values(),
            lock_wait_samples=test.hits,
            request_samples=test.samples,
            lock_wait_share=round(test.share, 3),
            frames=dict(top),
        )
        fix = None
        if top:
            fix = (
                f"Remove or narrow the lock waited on at {top[0][0]}: scikit-learn, ONNX "
                "Runtime and torch inference are safe to call concurrently; otherwise give "
                "each worker its own model copy."
            )
        # A lock wait is structural: a busy host only lengthens waits on a lock that is
        # contended already, so a share whose interval clears the threshold stands alone.
        effect = test.effect(
            "share of request-thread samples waiting on a lock", strong=test.threshold
        )
        yield self.finding(
            observations.location, message, evidence=[evidence], fix=fix, effect=effect
        )


def lock_wait_test(live: LiveSummary, limits: ProfileThresholds) -> ShareTest:
    """Lock waits against all request samples of the worker threads, with its criterion."""
    workers = live.request_threads()
    return share_test(
        sum(t.lock_wait_samples for t in workers),
        sum(t.request_samples for t in workers),
        threshold=limits.lock_wait_share,
        min_samples=limits.lock_min_samples,
    )
