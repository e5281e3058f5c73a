"""PROF009: garbage-collection pauses take a real share of call time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule, ms


class GcPausesInCallPath(ProfileRule):
    """## What it does
    Checks how often Python's cyclic garbage collector runs during model calls and how long
    its pauses are.

    ## Why is this bad?
    A call that creates many container objects triggers collections; a generation-2
    collection walks every tracked object in the process (a large model's Python objects
    included) and stops the thread meanwhile. Those pauses land in the tail latency (p99),
    not the median.

    ## How it's measured
    `gc.callbacks` records the start and stop of each collection while the model is called
    repeatedly at the recommended batch (about a second). Fires when the pauses add up to at
    least `gc-pause-share` (default 5%) of the calls' time and the longest pause is at
    least `gc-min-pause-ms` (default 1 ms).
    """

    code: ClassVar[str] = "PROF009"
    name: ClassVar[str] = "gc-pauses-in-call-path"
    severity: ClassVar[Severity] = Severity.LOW
    summary: ClassVar[str] = "Garbage-collection pauses take a noticeable share of call time."
    fix: ClassVar[str] = (
        "Create fewer temporary Python objects per call (arrays instead of lists of dicts), "
        "call `gc.freeze()` after loading the model so its objects leave the collected "
        "generations, or raise the gen-0 threshold with `gc.set_threshold`."
    )
    risk: ClassVar[str] = "Collection pauses add to tail latency."
    phases: ClassVar[tuple[str, ...]] = ("gc",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        result = observations.results.gc
        if result is None:
            return
        limits = observations.thresholds
        if (
            result.pause_share < limits.gc_pause_share
            or result.max_pause_s * 1e3 < limits.gc_min_pause_ms
        ):
            return
        counts = list(result.collections)
        message = (
            f"GC pauses took {result.pause_share:.0%} of {result.calls} calls at batch "
            f"{result.batch} (collections per generation {counts}, longest "
            f"{ms(result.max_pause_s)})"
        )
        evidence = observations.evidence(
            "gc.callbacks during repeated calls",
            batch=result.batch,
            calls=result.calls,
            elapsed_s=result.elapsed_s,
            pause_s=result.pause_s,
            max_pause_s=result.max_pause_s,
            collections=counts,
        )
        yield self.finding(observations.location, message, evidence=[evidence])
