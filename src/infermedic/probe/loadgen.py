"""Load generation: an open loop on a fixed schedule (CO-free) and a closed concurrency loop.

Latency in the open loop is measured from each request's intended send time, as wrk2 does,
so a stalled server shows up as latency instead of as fewer samples. The generator counts
its own late sends and says when it fell behind (perf_analyzer's 1 %/1 ms rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infermedic.live import LoadMeter
from infermedic.probe.histogram import LatencyHistogram, WindowedHistograms
from infermedic.probe.servertiming import read_timing

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
EARLY_KEPT = 50  # first requests kept one by one, for the cold-start rule
BODY_OVER_CAP = "body over the --max-body cap"
# The generator's own saturation: a process that used this share of a core, or whose event
# loop ran this late on average, was at its limit and may have measured itself.
SATURATED_CPU = 0.90
SATURATED_LOOP_LAG_MS = 5.0
MONITOR_TICK_S = 0.02


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one load request got: a status (0 = no response) and its timing headers."""

    status: int
    timing: Mapping[str, str] | None = None
    error: str | None = None


Sender = Callable[[], Awaitable[SendResult]]
# A sender may also offer `fire(callback)`: send one request and call back with its result,
# without a task or future per request (the raw client's fast path; see `rawclient`).
Fire = Callable[[Callable[[SendResult], None]], None]


def fire_of(sender: Sender) -> Fire | None:
    fire: Fire | None = getattr(sender, "fire", None)
    return fire


class _Metered:
    """A sender that counts each answer on a live-progress meter (`infermedic.live`); it
    keeps the inner sender's `fire` fast path when there is one."""

    fire: Fire  # set only when the inner sender has it: `fire_of` looks it up

    def __init__(self, sender: Sender, meter: LoadMeter, *, errors: bool) -> None:
        self._sender, self._meter, self._errors = sender, meter, errors
        inner = fire_of(sender)
        if inner is not None:

            def fire(callback: Callable[[SendResult], None]) -> None:
                def landed(result: SendResult) -> None:
                    meter.record(error=errors and is_error(result.status))
                    callback(result)

                inner(landed)

            self.fire = fire

    async def __call__(self) -> SendResult:
        result = await self._sender()
        self._meter.record(error=self._errors and is_error(result.status))
        return result


def metered(sender: Sender, meter: LoadMeter | None, *, errors: bool = True) -> Sender:
    """`sender`, counting its answers on `meter` when a live display is running; with
    `errors` false its non-2xx answers are not errors (a canary only times the loop)."""
    return sender if meter is None else _Metered(sender, meter, errors=errors)


def is_error(status: int) -> bool:
    """Anything but a 2xx: no response, a 4xx/5xx, and a 3xx (probe never follows a redirect,
    so a redirect is no prediction)."""
    return not 200 <= status < 300


@dataclass(frozen=True, kw_only=True, slots=True)
class GeneratorStats:
    """How busy the load generator itself was: its process's CPU time over the wall time of
    the loop (1.0 = one full core) and how late its event loop ran a 20 ms timer."""

    cpu_fraction: float
    loop_lag_mean_ms: float
    loop_lag_max_ms: float

    @property
    def saturated(self) -> bool:
        return self.cpu_fraction >= SATURATED_CPU or self.loop_lag_mean_ms >= SATURATED_LOOP_LAG_MS

    def describe(self) -> str:
        return (
            f"it used {self.cpu_fraction:.0%} of a CPU core and its event loop ran "
            f"{self.loop_lag_mean_ms:.1f} ms late on average (max {self.loop_lag_max_ms:.1f} ms)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu_fraction": round(self.cpu_fraction, 3),
            "loop_lag_mean_ms": round(self.loop_lag_mean_ms, 3),
            "loop_lag_max_ms": round(self.loop_lag_max_ms, 3),
            "saturated": self.saturated,
        }

    @classmethod
    def worst(cls, stats: list[GeneratorStats]) -> GeneratorStats | None:
        """Across generator processes: each runs on its own core, so the busiest one counts."""
        if not stats:
            return None
        return cls(
            cpu_fraction=max(s.cpu_fraction for s in stats),
            loop_lag_mean_ms=max(s.loop_lag_mean_ms for s in stats),
            loop_lag_max_ms=max(s.loop_lag_max_ms for s in stats),
        )


class GeneratorMonitor:
    """Measures `GeneratorStats` while a load loop runs: process CPU time (wall clock, never
    an injected test clock: CPU is real) and the lateness of a 20 ms timer on the loop."""

    def __init__(self) -> None:
        self._cpu0 = time.process_time()
        self._wall0 = time.perf_counter()
        self._lag_sum = 0.0
        self._lag_max = 0.0
        self._ticks = 0
        self._task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(MONITOR_TICK_S)
            lag = max(time.perf_counter() - before - MONITOR_TICK_S, 0.0)
            self._lag_sum += lag
            self._lag_max = max(self._lag_max, lag)
            self._ticks += 1

    def stop(self) -> GeneratorStats:
        self._task.cancel()
        wall = max(time.perf_counter() - self._wall0, 1e-9)
        mean = self._lag_sum / self._ticks if self._ticks else 0.0
        return GeneratorStats(
            cpu_fraction=(time.process_time() - self._cpu0) / wall,
            loop_lag_mean_ms=mean * 1e3,
            loop_lag_max_ms=self._lag_max * 1e3,
        )


@dataclass
class LoadRecorder:
    """Everything measured in one load run; mergeable across worker processes."""

    window_s: float = 1.0
    late_tolerance_s: float = 0.002
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    service: LatencyHistogram = field(default_factory=LatencyHistogram)
    windows: WindowedHistograms = field(init=False)
    statuses: Counter[int] = field(default_factory=Counter)
    errors_seen: Counter[str] = field(default_factory=Counter)
    late_sends: int = 0
    max_lag_s: float = 0.0
    early: list[tuple[float, float]] = field(default_factory=list)  # (intended offset, latency)
    stage_sum_ms: dict[str, float] = field(default_factory=dict)
    stage_count: Counter[str] = field(default_factory=Counter)
    # timing-header values that are no duration (inf, NaN, negative), by stage; a few examples
    timing_rejected: Counter[str] = field(default_factory=Counter)
    timing_examples: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    scheduled: int = 0
    interrupted: bool = False
    generator: GeneratorStats | None = None

    def __post_init__(self) -> None:
        self.windows = WindowedHistograms(self.window_s)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if is_error(status))

    def record(
        self, offset_s: float, latency_s: float, service_s: float, lag_s: float, result: SendResult
    ) -> None:
        self.latency.record(latency_s)
        self.service.record(service_s)
        self.windows.record(offset_s, latency_s, error=is_error(result.status))
        self.statuses[result.status] += 1
        if result.error:
            self.errors_seen[result.error] += 1
        if lag_s > self.late_tolerance_s:
            self.late_sends += 1
        self.max_lag_s = max(self.max_lag_s, lag_s)
        if len(self.early) < EARLY_KEPT:
            self.early.append((offset_s, latency_s))
        if result.timing:
            stages, rejected = read_timing(result.timing)
            for stage, duration_ms in stages:
                self.stage_sum_ms[stage] = self.stage_sum_ms.get(stage, 0.0) + duration_ms
                self.stage_count[stage] += 1
            for text in rejected:
                self.timing_rejected[text.partition("=")[0]] += 1
                if len(self.timing_examples) < 3:
                    self.timing_examples.append(text)

    def late_fraction(self) -> float:
        return self.late_sends / self.requests if self.requests else 0.0

    def kept_schedule(self, max_late_fraction: float) -> bool:
        """Whether the generator kept its schedule: at most this share of its sends were late
        by more than `late_tolerance_s` (perf_analyzer's rule). When it did not, its
        latencies are partly its own lateness, and the report says so."""
        return self.late_fraction() <= max_late_fraction

    def throughput(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_payload(self) -> dict[str, Any]:
        """A picklable form (histoblobs, counters) a worker process sends back."""
        return {
            "window_s": self.window_s,
            "late_tolerance_s": self.late_tolerance_s,
            "latency": self.latency.encode(),
            "service": self.service.encode(),
            "windows": self.windows.encode(),
            "statuses": dict(self.statuses),
            "errors_seen": dict(self.errors_seen),
            "late_sends": self.late_sends,
            "max_lag_s": self.max_lag_s,
            "early": list(self.early),
            "stage_sum_ms": dict(self.stage_sum_ms),
            "stage_count": dict(self.stage_count),
            "timing_rejected": dict(self.timing_rejected),
            "timing_examples": list(self.timing_examples),
            "elapsed_s": self.elapsed_s,
            "scheduled": self.scheduled,
            "interrupted": self.interrupted,
            "generator": self.generator.to_dict() if self.generator else None,
        }

    @classmethod
    def merged(cls, payloads: list[dict[str, Any]]) -> LoadRecorder:
        first = payloads[0]
        merged = cls(window_s=first["window_s"], late_tolerance_s=first["late_tolerance_s"])
        for payload in payloads:
            merged.latency.merge_encoded(payload["latency"])
            merged.service.merge_encoded(payload["service"])
            merged.windows.merge_encoded(payload["windows"])
            merged.statuses.update(payload["statuses"])
            merged.errors_seen.update(payload["errors_seen"])
            merged.late_sends += payload["late_sends"]
            merged.max_lag_s = max(merged.max_lag_s, payload["max_lag_s"])
            merged.early.extend(payload["early"])
            for stage, value in payload["stage_sum_ms"].items():
                merged.stage_sum_ms[stage] = merged.stage_sum_ms.get(stage, 0.0) + value
            merged.stage_count.update(payload["stage_count"])
            merged.timing_rejected.update(payload.get("timing_rejected", {}))
            merged.timing_examples.extend(payload.get("timing_examples", []))
            merged.elapsed_s = max(merged.elapsed_s, payload["elapsed_s"])
            merged.scheduled += payload["scheduled"]
            merged.interrupted = merged.interrupted or payload["interrupted"]
        merged.generator = GeneratorStats.worst(
            [
                GeneratorStats(
                    cpu_fraction=g["cpu_fraction"],
                    loop_lag_mean_ms=g["loop_lag_mean_ms"],
                    loop_lag_max_ms=g["loop_lag_max_ms"],
                )
                for p in payloads
                if (g := p.get("generator"))
            ]
        )
        merged.early = sorted(merged.early)[:EARLY_KEPT]
        merged.timing_examples = merged.timing_examples[:3]
        return merged


def intended_send_time(start: float, index: int, rate: float) -> float:
    """The schedule: request `index` is due at `start + index / rate` — one global, uniform
    schedule, never per-connection bursts (wrk2's `-R40 -c10` pitfall, load.md §2.4)."""
    return start + index / rate


async def open_loop(
    sender: Sender,
    *,
    rate: float,
    duration_s: float,
    clock: Clock = time.perf_counter,
    sleep: Sleep = asyncio.sleep,
    max_in_flight: int = 256,
    window_s: float = 1.0,
    late_tolerance_s: float = 0.002,
    stop: asyncio.Event | None = None,
    start: float | None = None,
    worker_index: int = 0,
    worker_count: int = 1,
    timeout_s: float = 10.0,
) -> LoadRecorder:
    """Send at `rate` for `duration_s`, each latency counted from its intended send time.

    A send the event loop made early (uvloop's timers have whole-millisecond resolution and
    may fire up to a millisecond before their time) counts from when it was actually sent:
    a latency is never shortened by the generator's own timer.

    With several workers each takes every `worker_count`-th slot of the one global schedule.
    `stop` ends the run at once; requests still in flight are cancelled and not counted.
    """
    recorder = LoadRecorder(window_s=window_s, late_tolerance_s=late_tolerance_s)
    slots = asyncio.Semaphore(max_in_flight)
    t0 = clock() + 0.001 if start is None else start
    in_flight: set[asyncio.Task[None]] = set()

    async def one(intended: float) -> None:
        try:
            sent = clock()
            result = await sender()
            done = clock()
            recorder.record(
                intended - t0, done - min(intended, sent), done - sent, sent - intended, result
            )
        finally:
            slots.release()

    fire = fire_of(sender)
    pending = 0  # requests sent through `fire` and not yet answered
    drained = asyncio.Event()
    counting = True  # answers after an interruption are not counted (as cancelled tasks)

    def fire_one(intended: float) -> None:
        nonlocal pending
        assert fire is not None
        sent = clock()

        def landed(result: SendResult) -> None:
            nonlocal pending
            done = clock()
            if counting:
                recorder.record(
                    intended - t0, done - min(intended, sent), done - sent, sent - intended, result
                )
            slots.release()
            pending -= 1
            if not pending:
                drained.set()

        pending += 1
        drained.clear()
        fire(landed)

    monitor = GeneratorMonitor()
    total = math.ceil(duration_s * rate - 1e-9)
    index = worker_index
    while index < total:
        if stop is not None and stop.is_set():
            recorder.interrupted = True
            break
        intended = intended_send_time(t0, index, rate)
        delay = intended - clock()
        if delay > 0:
            await sleep(delay)
        # A full in-flight cap makes the send late; the lateness is counted, not hidden.
        await slots.acquire()
        recorder.scheduled += 1
        if fire is not None:
            fire_one(intended)
            index += worker_count
            continue
        task = asyncio.ensure_future(one(intended))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        index += worker_count
    if in_flight:
        if recorder.interrupted:
            for task in in_flight:
                task.cancel()
        await asyncio.wait(set(in_flight), timeout=timeout_s + 1.0)
        for task in set(in_flight):
            task.cancel()
    if pending:
        if recorder.interrupted:
            counting = False
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(drained.wait(), timeout_s + 1.0)
        counting = False
    recorder.generator = monitor.stop()
    recorder.elapsed_s = max(clock() - t0, 1e-9) if recorder.interrupted else duration_s
    return recorder


@dataclass(frozen=True, kw_only=True, slots=True)
class StepResult:
    """One closed-loop concurrency step, summarised from its last (stable) windows."""

    concurrency: int
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    requests: int
    errors: int
    windows: int
    stable: bool
    elapsed_s: float
    generator: GeneratorStats | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "throughput_rps": round(self.throughput, 2),
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
            "requests": self.requests,
            "errors": self.errors,
            "windows": self.windows,
            "stable": self.stable,
            "elapsed_s": round(self.elapsed_s, 3),
            "generator": self.generator.to_dict() if self.generator else None,
        }


def windows_agree(values: list[float], tolerance: float) -> bool:
    """Each value within `tolerance` (fraction) of their mean, as perf_analyzer's stability."""
    if not values:
        return False
    mean = sum(values) / len(values)
    if mean == 0:
        return all(v == 0 for v in values)
    return all(abs(v - mean) <= tolerance * mean for v in values)


async def closed_loop(
    sender: Sender,
    *,
    concurrency: int,
    window_s: float = 1.0,
    max_duration_s: float = 8.0,
    stable_windows: int = 3,
    tolerance: float = 0.10,
    clock: Clock = time.perf_counter,
    stop: asyncio.Event | None = None,
    until_stable: bool = True,
) -> StepResult:
    """`concurrency` users each send the next request when the previous answers, in windows
    until the last `stable_windows` agree within `tolerance` on throughput and mean latency,
    or `max_duration_s` passes (always the full time when `until_stable` is false)."""
    t0 = clock()
    deadline = t0 + max_duration_s
    per_window: dict[int, list[tuple[float, bool]]] = {}
    finished = asyncio.Event()

    async def user() -> None:
        while not finished.is_set() and clock() < deadline:
            sent = clock()
            result = await sender()
            done = clock()
            index = int((done - t0) // window_s)
            per_window.setdefault(index, []).append((done - sent, is_error(result.status)))

    fire = fire_of(sender)
    active = 0  # callback users still sending (the raw client's fast path)
    idle = asyncio.Event()
    ending = False  # `finished`, as a plain flag for the callbacks

    def callback_user() -> Callable[[], None]:
        """One user of the fast path: a single callback for all its requests (none made
        per request), which records an answer and sends the next request."""
        assert fire is not None
        sent = 0.0

        def landed(result: SendResult) -> None:
            nonlocal active, sent
            done = clock()
            index = int((done - t0) // window_s)
            bucket = per_window.get(index)
            if bucket is None:
                bucket = per_window[index] = []
            status = result.status
            bucket.append((done - sent, not 200 <= status < 300))  # is_error, inlined
            if not ending and done < deadline:
                sent = clock()
                fire(landed)  # the next request of this user, from the callback
                return
            active -= 1
            if not active:
                idle.set()

        def begin() -> None:
            nonlocal sent
            sent = clock()
            fire(landed)

        return begin

    monitor = GeneratorMonitor()
    users: list[asyncio.Future[None]] = []
    if fire is not None:
        active = concurrency
        for _ in range(concurrency):
            callback_user()()
    else:
        users = [asyncio.ensure_future(user()) for _ in range(concurrency)]
    stable = False
    completed = 0
    try:
        while clock() < deadline:
            if stop is not None and stop.is_set():
                break
            await asyncio.sleep(max(t0 + (completed + 1) * window_s - clock(), 0.0))
            completed = int((clock() - t0) // window_s)
            last = [per_window.get(i, []) for i in range(completed - stable_windows, completed)]
            if completed >= stable_windows and all(last):
                rates = [len(w) / window_s for w in last]
                means = [sum(s for s, _ in w) / len(w) for w in last]
                if windows_agree(rates, tolerance) and windows_agree(means, tolerance):
                    stable = True
                    if until_stable:
                        break
    finally:
        finished.set()
        ending = True
        # Stopped (Ctrl-C): cancel the users at once instead of waiting out a hung request.
        stopped = stop is not None and stop.is_set()
        if users:
            await asyncio.wait(users, timeout=0.0 if stopped else 10.0)
        elif active and not stopped:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle.wait(), 10.0)
        for task in users:
            task.cancel()
        generator = monitor.stop()
    elapsed = clock() - t0
    used = range(max(completed - stable_windows, 0), completed) if completed else range(1)
    hist = LatencyHistogram()
    errors = requests = 0
    total_s = 0.0
    for i in used:
        for service_s, error in per_window.get(i, []):
            hist.record(service_s)
            total_s += service_s
            errors += error
            requests += 1
    span = max(len(used) * window_s, 1e-9) if completed else max(elapsed, 1e-9)
    return StepResult(
        concurrency=concurrency,
        throughput=requests / span,
        p50_ms=hist.percentile_ms(50),
        p95_ms=hist.percentile_ms(95),
        p99_ms=hist.percentile_ms(99),
        # the exact mean of the samples (hdrh's mean walks every bucket in Python)
        mean_ms=total_s / requests * 1e3 if requests else float("nan"),
        requests=requests,
        errors=errors,
        windows=completed,
        stable=stable,
        elapsed_s=elapsed,
        generator=generator,
    )
