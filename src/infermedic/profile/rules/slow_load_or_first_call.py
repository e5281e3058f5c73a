"""PROF004: loading the model or its first call is slow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule, ms


class SlowLoadOrFirstCall(ProfileRule):
    """## What it does
    Checks how long the model takes to load and how much slower its first call is than the
    steady state.

    ## Why is this bad?
    A slow load stretches every start-up and scale-out; a large first-call penalty (lazy
    initialisation, JIT, caches, thread pools) lands on the first user request of every new
    replica unless the service warms up before it reports ready.

    ## How it's measured
    The load is timed in a fresh worker process (`perf_counter`), with the resident memory
    before and after; when that was quick enough it is timed again with the libraries
    already imported, which isolates the artifact's own cost from import time. The first
    call at batch 1 is timed once; the steady state is the batch-1 median of the sweep.
    Fires when the load takes more than `load-max-s` (default 5 s), or the first call is
    at least `first-call-ratio` (default 10) times the steady median and at least
    `first-call-min-extra-ms` (default 100 ms) longer.
    """

    code: ClassVar[str] = "PROF004"
    name: ClassVar[str] = "slow-load-or-first-call"
    severity: ClassVar[Severity] = Severity.LOW
    summary: ClassVar[str] = (
        "The model loads slowly or its first call is much slower than later ones."
    )
    fix: ClassVar[str] = (
        "Load the model once at start-up and run a warm-up call on representative input "
        "before the readiness probe passes."
    )
    risk: ClassVar[str] = "Cold replicas answer their first requests slowly or time out."
    phases: ClassVar[tuple[str, ...]] = ("load", "first-call")
    checklist: ClassVar[tuple[str, ...]] = ("D-23",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        limits = observations.thresholds
        results = observations.results
        load = results.load
        load_s = None if load is None else (load.warm_load_s or load.load_s)
        if load is not None and load_s is not None and load_s > limits.load_max_s:
            evidence = observations.evidence(
                "timed the load in a fresh worker process, then again with libraries imported",
                load_s=load.load_s,
                warm_load_s=load.warm_load_s,
                rss_after_bytes=load.rss_after_bytes,
            )
            yield self.finding(
                observations.location,
                f"loading the model took {load_s:.1f} s",
                evidence=[evidence],
                fingerprint_key="load",
            )
        first = results.first_call
        sweep = results.batch_sweep
        if first is None or sweep is None or not sweep.cells:
            return
        steady = sweep.cells[0].timing.median_s
        extra = first.first_s - steady
        if (
            steady > 0
            and first.first_s >= limits.first_call_ratio * steady
            and extra * 1e3 >= limits.first_call_min_extra_ms
        ):
            evidence = observations.evidence(
                "timed the first call at batch 1, then the steady-state median",
                first_call_s=first.first_s,
                second_call_s=first.second_s,
                steady_median_s=steady,
                steady_calls=sweep.cells[0].timing.calls,
            )
            yield self.finding(
                observations.location,
                f"the first call took {ms(first.first_s)}, "
                f"{first.first_s / steady:.0f}x the steady {ms(steady)}",
                evidence=[evidence],
                fingerprint_key="first-call",
            )
