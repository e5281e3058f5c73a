"""PROF005: memory grows across identical calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule


class MemoryGrowthAcrossCalls(ProfileRule):
    """## What it does
    Checks whether the Python heap keeps growing while the model is called again and again
    on the same input.

    ## Why is this bad?
    Memory that grows with every call (a cache without a bound, inputs appended to a list,
    a history kept on the model) ends in an out-of-memory kill under traffic, and the
    restarts look like random 5xx bursts.

    ## How it's measured
    After 10 warm-up calls, the model is called repeatedly on the same batch (up to 300
    calls, or a time cap), with `gc.collect()` and a `tracemalloc` reading after each
    quarter; RSS is recorded before and after. Fires when the traced heap grew in every
    quarter and by at least `memory-growth-min-bytes` (default 1 MiB) in total and
    `memory-growth-min-bytes-per-call` (default 1 KiB) per call. One large first allocation
    is not growth.

    ## Known problems
    Memory allocated outside Python's allocator and numpy (native libraries) is seen only
    in RSS, which is reported but not judged.
    """

    code: ClassVar[str] = "PROF005"
    name: ClassVar[str] = "memory-growth-across-calls"
    severity: ClassVar[Severity] = Severity.HIGH
    summary: ClassVar[str] = "Memory grows with every call on the same input."
    fix: ClassVar[str] = (
        "Find what the prediction path keeps (lists, dicts or caches on the model or module "
        "that grow per call) and bound or remove it; `tracemalloc` snapshots around a call "
        "name the allocating line."
    )
    risk: ClassVar[str] = "Replicas are OOM-killed under traffic and restart mid-request."
    phases: ClassVar[tuple[str, ...]] = ("memory",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        memory = observations.results.memory
        if memory is None:
            return
        limits = observations.thresholds
        growth = memory.growth_bytes
        per_call = memory.growth_per_call_bytes
        if not (
            memory.grew_every_interval
            and growth >= limits.memory_growth_min_bytes
            and per_call >= limits.memory_growth_min_bytes_per_call
        ):
            return
        message = (
            f"the Python heap grew by {growth / 2**20:.1f} MiB over {memory.calls} identical "
            f"calls at batch {memory.batch} ({per_call / 1024:.1f} KiB per call)"
        )
        evidence = observations.evidence(
            "tracemalloc after gc.collect() at each quarter of the repeated calls",
            traced_bytes=list(memory.traced_bytes),
            calls=memory.calls,
            batch=memory.batch,
            growth_bytes=growth,
            growth_per_call_bytes=per_call,
            rss_start_bytes=memory.rss_start_bytes,
            rss_end_bytes=memory.rss_end_bytes,
        )
        yield self.finding(observations.location, message, evidence=[evidence])
