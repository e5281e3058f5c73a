"""LIVE008: the service's resident memory keeps growing while it serves the probe's load."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from infermedic.model import Evidence, Finding, Notification, NotificationLevel, Severity
from infermedic.probe.observations import BodyMemoryPhase, MemorySample, ProbeObservations
from infermedic.probe.rules.base import MeasuredRule, measurement

MIB = 1024.0 * 1024.0
MIN_MEMORY_SAMPLES = 6
LATE_MIN_SAMPLES = 3  # the second half's own slope and correlation need three
RISE_EPSILON = 64 * 1024  # bytes; RSS moves in pages, smaller wiggles are noise
# distinct bodies slower than repeated ones by both: a response cache hides the model's cost
CACHED_LATENCY_RATIO = 3.0
CACHED_LATENCY_MIN_MS = 5.0


class MemoryGrowthUnderLoad(MeasuredRule):
    """Memory growth under load.

    ## What it does
    Checks the service process's resident memory (psutil when `--pid` is given, else
    `process_resident_memory_bytes` from `/metrics`) sampled about once a second from the
    start of the load to the end of the run.

    ## Why is this bad?
    Memory that grows with request count (a cache without bound, appending each request to
    a list, tensors kept alive) ends in an OOM kill: lost in-flight requests, a cold start,
    and a restart loop under steady traffic.

    ## How it's measured
    Two measurements, each judged on its own:

    Under load (the known-good body repeated):
    - Statistic: the least-squares slope of resident memory over time, divided by the
      request rate, as growth per 10,000 requests, over the whole run and over its second
      half in time on its own; plus how steady the growth is (the share of successive
      samples that rise, and the correlation of memory with time in the second half).
    - Why the second half: after a start or restart, memory rises for the first seconds of
      load (allocator arenas, numpy/sklearn caches, the thread pool filling) and then levels
      off. Over a short run that rise is monotonic and well correlated with time, like a
      leak; but a leak keeps its pace to the end, and a warm-up slows down. So the second
      half's pace alone must reach the thresholds.
    - Window: from the start of the load run to the end of the probe (≈1 s samples).
    - Minimum samples: 6 (fewer cannot tell a leak from a warm-up plateau); the second half
      is at least the last 3.
    - Default threshold: total growth ≥ `memory-growth-mb` (5 MiB) and projected growth ≥
      `memory-growth-mb-per-10k` (100 MiB), both from the whole run and again from the
      second half's slope alone (its slope × the run's length ≥ 5 MiB); at least
      `memory-steady-share` (60 %) of successive samples rising, and correlation ≥
      `memory-min-correlation` (0.9) in the second half. Growth that passes the whole-run
      test but not the second half's is a note ("levels off" or "in steps"), not a finding.
    - Only the samples taken while the identical body was sent count (not the robustness
      and body-cache requests that follow).

    Per distinct body (the body-cache check, after the load run): rounds of N identical
    bodies then N distinct ones (the known-good body with one value nudged in its last
    digits), memory read around each phase.
    - Statistic: growth of each phase, in KiB per request.
    - Minimum samples: two rounds (the first identical phase is warm-up).
    - Default threshold: every distinct-body round grows ≥ `memory-distinct-round-mb`
      (1 MiB) and ≥ `memory-distinct-ratio` (3×) the identical-body growth after warm-up,
      and all distinct rounds together ≥ `memory-growth-mb` (5 MiB).
    - When every round after warm-up grows ≥ 1 MiB, repeated and distinct bodies alike, and
      the load run did not already show it, the growth is reported as kept per request.

    ## Options
    `memory-growth-mb`, `memory-growth-mb-per-10k`, `memory-steady-share`,
    `memory-min-correlation`, `memory-distinct-round-mb`, `memory-distinct-ratio` in
    `[tool.infermedic.probe]`.

    ## Known problems
    A slow leak (a few KiB per request) grows in allocator-sized steps and needs a longer
    run than the default to show as steady growth (about 12 KiB per request shows in 60 s at
    20 req/s). A warm-up that lasts longer than half of the run is still rising in its
    second half and can pass as a leak; a leak that starts late in the run can pass as a
    warm-up. A cache that is filling towards a bound looks like a leak until it is full: run
    longer (`--duration`) to see whether it levels off. The
    per-body check sees about 10 KiB or more kept per distinct body (150 bodies a round,
    1 MiB a round); smaller entries go unseen by it (the load run may still show them).
    When distinct bodies are answered 3× (and 5 ms) slower than repeated ones, a warning
    says the load run's latency is a cache's.
    """

    code = "LIVE008"
    name = "memory-growth-under-load"
    severity = Severity.HIGH
    summary = "Resident memory grows with the requests served."
    risk = "The process ends in an OOM kill and a restart loop under steady traffic."
    fix = (
        "Bound every per-request cache (`functools.lru_cache(maxsize=...)`), never append "
        "requests to module-level lists, and release tensors/arrays after each request."
    )

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        under_load = self._under_load(obs)
        per_body = self._per_distinct_body(obs)
        if not any(isinstance(r, Finding) for r in (*under_load, *per_body)):
            per_body = [*per_body, *self._per_request_in_rounds(obs)]
        return [*under_load, *per_body]

    def _per_request_in_rounds(self, obs: ProbeObservations) -> list[Finding]:
        """Every round after warm-up grew, repeated and distinct bodies alike: memory kept
        per request whatever its body (seen here when the load run had too few samples)."""
        phases = obs.body_memory
        limits = obs.thresholds
        settled = [p for p in phases if p.round > 1 or p.kind == "distinct"]
        if len(settled) < 2 or not any(p.kind == "identical" for p in settled):
            return []
        total = sum(p.growth for p in settled)
        if (
            min(p.growth for p in settled) < limits.memory_distinct_round_mb * MIB
            or total < limits.memory_growth_mb * MIB
        ):
            return []
        requests = sum(p.requests for p in settled)
        message = (
            f"resident memory grows with every request, repeated or distinct bodies alike: "
            f"+{total / MIB:.1f} MiB over {requests} requests (about "
            f"{total / requests / 1024:.0f} KiB each) in the rounds after warm-up"
        )
        return [
            self.finding(
                obs.predict_location(),
                message,
                evidence=[_rounds_evidence(obs, phases)],
                fingerprint_key="every-request",
            )
        ]

    def _per_distinct_body(self, obs: ProbeObservations) -> list[Finding | Notification]:
        phases = obs.body_memory
        limits = obs.thresholds
        identical = [p for p in phases if p.kind == "identical"]
        distinct = [p for p in phases if p.kind == "distinct"]
        if len(distinct) < 2 or not identical:
            return []
        # the first identical phase warms the service up; later ones are the baseline
        settled = [p for p in identical if p.round > 1] or identical
        notes = self._note_cached_latency(settled, distinct)
        baseline = max(max(p.growth, 0.0) for p in settled)
        smallest = min(p.growth for p in distinct)
        total = sum(p.growth for p in distinct)
        if (
            smallest < limits.memory_distinct_round_mb * MIB
            or smallest < limits.memory_distinct_ratio * baseline
            or total < limits.memory_growth_mb * MIB
        ):
            return notes
        requests = sum(p.requests for p in distinct)
        per_distinct = total / requests
        per_identical = baseline / settled[0].requests
        message = (
            f"resident memory grows with each distinct request body: +{total / MIB:.1f} MiB "
            f"over {requests} distinct bodies (about {per_distinct / 1024:.0f} KiB each) "
            f"against +{baseline / MIB:.1f} MiB for {settled[0].requests} repeats of one body "
            f"(about {per_identical / 1024:.1f} KiB each): a cache or store keyed by the "
            f"request that did not stop growing over {requests} distinct bodies (unbounded, "
            "or bounded above that)"
        )
        rounds = _rounds_evidence(obs, phases)
        evidence = measurement(
            rounds.action,
            rounds.observed,
            **rounds.values,
            kib_per_distinct_body=round(per_distinct / 1024, 1),
            kib_per_identical_body=round(per_identical / 1024, 2),
            criterion=(
                f"every distinct round ≥ {limits.memory_distinct_round_mb:g} MiB and ≥ "
                f"{limits.memory_distinct_ratio:g}× the identical round after warm-up; total ≥ "
                f"{limits.memory_growth_mb:g} MiB"
            ),
        )
        return [
            *notes,
            self.finding(
                obs.predict_location(),
                message,
                evidence=[evidence],
                fingerprint_key="distinct-bodies",
            ),
        ]

    def _note_cached_latency(
        self, settled: list[BodyMemoryPhase], distinct: list[BodyMemoryPhase]
    ) -> list[Finding | Notification]:
        """Say so when repeated bodies are answered much faster than distinct ones: the load
        run's latency (one repeated body) is then a cache's, not production's."""
        same = [p.median_ms for p in settled if p.median_ms is not None]
        new = [p.median_ms for p in distinct if p.median_ms is not None]
        if not same or not new:
            return []
        fast, slow = max(same), min(new)
        if slow >= CACHED_LATENCY_RATIO * fast and slow - fast >= CACHED_LATENCY_MIN_MS:
            return [
                Notification(
                    level=NotificationLevel.WARNING,
                    rule=self.code,
                    message=(
                        f"repeated request bodies were answered in {fast:.1f} ms (median), "
                        f"distinct ones in {slow:.1f} ms: the service caches by request, so "
                        "latency measured with one repeated body understates production's"
                    ),
                )
            ]
        return []

    def _under_load(self, obs: ProbeObservations) -> list[Finding | Notification]:
        end = obs.identical_load_end_s
        samples = [s for s in obs.memory if end is None or s.at_s <= end]
        limits = obs.thresholds
        if len(samples) < MIN_MEMORY_SAMPLES:
            return []
        times = [s.at_s for s in samples]
        rss = [s.rss_bytes for s in samples]
        if max(times) - min(times) <= 0 or max(rss) == min(rss):
            return []
        growth = rss[-1] - rss[0]
        slope, _ = statistics.linear_regression(times, rss)  # bytes per second
        correlation = statistics.correlation(times, rss)
        rising = sum(b > a + RISE_EPSILON for a, b in zip(rss, rss[1:], strict=False))
        steady_share = rising / (len(rss) - 1)
        rate = obs.load.rate if obs.load is not None else obs.rate
        per_10k = slope / rate * 10_000 if rate > 0 else 0.0
        if (
            growth < limits.memory_growth_mb * MIB
            or per_10k < limits.memory_growth_mb_per_10k * MIB
        ):
            return []
        if steady_share < limits.memory_steady_share:
            return [self._note_steps(growth, steady_share, correlation)]
        elapsed = samples[-1].at_s - samples[0].at_s
        late = _second_half(samples)
        late_slope, late_r = _trend(late)
        late_per_10k = late_slope / rate * 10_000 if rate > 0 else 0.0
        # A leak keeps its pace to the end of the run; a warm-up (allocator arenas, numpy
        # and sklearn caches, the thread pool filling) rises fast, then levels off. The
        # second half's pace alone must reach both thresholds over the whole run.
        if (
            late_slope * elapsed < limits.memory_growth_mb * MIB
            or late_per_10k < limits.memory_growth_mb_per_10k * MIB
        ):
            return [self._note_levels_off(samples, late, late_slope)]
        if late_r < limits.memory_min_correlation:
            return [
                Notification(
                    level=NotificationLevel.NOTE,
                    rule=self.code,
                    message=(
                        f"resident memory grew {growth / MIB:.0f} MiB, {steady_share:.0%} of "
                        f"samples rising, but unevenly in the second half (r={late_r:.2f}): not "
                        "the steady climb of a leak (a warm-up still settling, or a late step); "
                        "run longer to tell"
                    ),
                )
            ]
        message = (
            "with one request body repeated, "
            f"resident memory grew steadily {growth / MIB:.0f} MiB ({rss[0] / MIB:.0f} → "
            f"{rss[-1] / MIB:.0f} MiB) in {elapsed:.0f} s at {rate:g} req/s: about "
            f"{late_slope / rate / 1024:.0f} KiB per request, "
            f"{late_per_10k / MIB:.0f} MiB per 10,000 requests"
        )
        evidence = measurement(
            samples[0].source,
            f"{len(samples)} samples: "
            + ", ".join(
                f"{s.at_s:.0f}s {s.rss_bytes / MIB:.0f} MiB"
                for s in samples[:: max(len(samples) // 8, 1)]
            )
            + f"; {steady_share:.0%} rising, r={correlation:.2f} "
            f"(second half r={late_r:.2f})",
            start_mib=round(rss[0] / MIB, 1),
            end_mib=round(rss[-1] / MIB, 1),
            growth_mib=round(growth / MIB, 1),
            kib_per_request=round(late_slope / rate / 1024, 1) if rate > 0 else None,
            mib_per_s=round(slope / MIB, 2),
            second_half_mib_per_s=round(late_slope / MIB, 2),
            samples=len(samples),
        )
        return [self.finding(obs.location(None), message, evidence=[evidence])]

    def _note_steps(self, growth: float, share: float, r: float) -> Notification:
        return Notification(
            level=NotificationLevel.NOTE,
            rule=self.code,
            message=(
                f"resident memory grew {growth / MIB:.0f} MiB, but in steps "
                f"({share:.0%} of samples rising, r={r:.2f}): an "
                "allocator or thread arena warming up, not a leak; run longer to tell"
            ),
        )

    def _note_levels_off(
        self, samples: Sequence[MemorySample], late: Sequence[MemorySample], late_slope: float
    ) -> Notification:
        first = late[0].rss_bytes - samples[0].rss_bytes
        second = late[-1].rss_bytes - late[0].rss_bytes
        return Notification(
            level=NotificationLevel.NOTE,
            rule=self.code,
            message=(
                f"resident memory grew {(samples[-1].rss_bytes - samples[0].rss_bytes) / MIB:.1f}"
                f" MiB, {first / MIB:+.1f} MiB by {late[0].at_s:.0f} s and "
                f"{second / MIB:+.1f} MiB after ({late_slope / 1024:.0f} KiB/s): growth that "
                "levels off is a warm-up (allocator, caches, thread pool), not a leak; "
                "run longer to tell"
            ),
        )


def _second_half(samples: Sequence[MemorySample]) -> Sequence[MemorySample]:
    """The samples of the run's second half in time (at least the last three: a slope and a
    correlation need them)."""
    middle = (samples[0].at_s + samples[-1].at_s) / 2
    late = [s for s in samples if s.at_s >= middle]
    return late if len(late) >= LATE_MIN_SAMPLES else samples[-LATE_MIN_SAMPLES:]


def _trend(samples: Sequence[MemorySample]) -> tuple[float, float]:
    """Least-squares slope (bytes per second) and correlation of memory with time; a flat
    stretch has slope 0 and correlation 0."""
    times = [s.at_s for s in samples]
    rss = [s.rss_bytes for s in samples]
    if len(samples) < 2 or max(times) == min(times) or max(rss) == min(rss):
        return 0.0, 0.0
    slope, _ = statistics.linear_regression(times, rss)
    return slope, statistics.correlation(times, rss)


def _rounds_evidence(obs: ProbeObservations, phases: Sequence[BodyMemoryPhase]) -> Evidence:
    """The body-cache rounds as evidence: each phase's growth, errors and first body."""
    return measurement(
        f"POST {obs.base_url}{obs.predict_path}: rounds of identical then distinct "
        f"bodies; {phases[0].source} around each phase",
        "; ".join(
            f"round {p.round} {p.kind} ×{p.requests}: {p.growth / MIB:+.1f} MiB"
            + (f" ({p.errors} errors)" if p.errors else "")
            for p in phases
        ),
        phases=[
            {
                "kind": p.kind,
                "round": p.round,
                "requests": p.requests,
                "errors": p.errors,
                "growth_mib": round(p.growth / MIB, 2),
                "median_ms": p.median_ms,
                "first_body": p.body_example,
            }
            for p in phases
        ],
    )
