"""The open-loop scheduler, closed loop and recorder on virtual time (exact, no sleeping)."""

from __future__ import annotations

import asyncio

import pytest

from infermedic.probe.histogram import LatencyHistogram, WindowedHistograms, merge_all
from infermedic.probe.loadgen import (
    LoadRecorder,
    SendResult,
    closed_loop,
    intended_send_time,
    open_loop,
    windows_agree,
)
from tests.probe.virtual_time import run_virtual


def clock() -> float:
    return asyncio.get_running_loop().time()


class FakeServer:
    """One request at a time, `service_s` each; optionally stalls once for `stall_s`."""

    def __init__(self, service_s: float, stall_at: float | None = None, stall_s: float = 0.0):
        self.service_s = service_s
        self.stall_at = stall_at
        self.stall_s = stall_s
        self.lock: asyncio.Lock | None = None
        self.start: float | None = None

    async def __call__(self) -> SendResult:
        if self.lock is None:
            self.lock = asyncio.Lock()
            self.start = clock()
        async with self.lock:
            assert self.start is not None
            if self.stall_at is not None and clock() - self.start >= self.stall_at:
                self.stall_at = None
                await asyncio.sleep(self.stall_s)
            await asyncio.sleep(self.service_s)
        return SendResult(200)


def test_schedule_is_one_global_uniform_grid() -> None:
    assert [intended_send_time(10.0, i, 4.0) for i in range(4)] == [10.0, 10.25, 10.5, 10.75]


def test_open_loop_sends_on_schedule_and_measures_service_exactly() -> None:
    async def go() -> LoadRecorder:
        return await open_loop(FakeServer(0.010), rate=50, duration_s=2.0, clock=clock)

    recorder = run_virtual(go())
    assert recorder.requests == recorder.scheduled == 100
    assert recorder.late_sends == 0 and recorder.max_lag_s == pytest.approx(0.0, abs=1e-9)
    assert recorder.latency.percentile_ms(50) == pytest.approx(10.0, abs=0.02)
    assert recorder.latency.max_ms() == pytest.approx(10.0, abs=0.02)
    assert [w.requests for w in recorder.windows.windows()] == [50, 50]
    assert recorder.throughput() == pytest.approx(50.0)


def test_a_stall_shows_in_open_loop_latency_but_hides_in_a_closed_loop() -> None:
    async def open_run() -> LoadRecorder:
        server = FakeServer(0.005, stall_at=1.0, stall_s=0.5)
        return await open_loop(server, rate=100, duration_s=3.0, clock=clock)

    async def closed_run() -> float:
        server = FakeServer(0.005, stall_at=1.0, stall_s=0.5)
        step = await closed_loop(
            server,
            concurrency=1,
            window_s=1.0,
            max_duration_s=3.0,
            clock=clock,
            until_stable=False,
        )
        return step.p99_ms

    recorder = run_virtual(open_run())
    # The request due at the stall waits 505 ms; the 50 behind it queue, each from its
    # intended time: ~1/6 of 300 requests are over 100 ms.
    assert recorder.latency.max_ms() == pytest.approx(505.0, abs=1.0)
    assert recorder.latency.percentile_ms(90) > 100.0
    assert recorder.late_sends == 0  # the generator kept its schedule; the server did not
    windows = recorder.windows.windows()
    assert windows[1].max_ms > 400.0 and windows[0].max_ms < 10.0
    # A closed loop sends one request during the stall and so sees it once in ~400.
    assert run_virtual(closed_run()) < 10.0


def test_the_generator_says_when_it_falls_behind() -> None:
    async def go() -> LoadRecorder:
        # One request in flight at a time and 20 ms each: 100/s cannot be kept.
        return await open_loop(
            FakeServer(0.020),
            rate=100,
            duration_s=1.0,
            clock=clock,
            max_in_flight=1,
            late_tolerance_s=0.002,
        )

    recorder = run_virtual(go())
    assert recorder.late_fraction() > 0.5
    assert recorder.max_lag_s > 0.5
    # latency from the intended time includes the lateness: coordinated omission is visible
    assert recorder.latency.max_ms() > 500.0


def test_workers_split_the_schedule_and_merge_exactly() -> None:
    async def worker(index: int) -> LoadRecorder:
        return await open_loop(
            FakeServer(0.002),
            rate=100,
            duration_s=1.0,
            clock=clock,
            start=clock(),
            worker_index=index,
            worker_count=2,
        )

    halves = [run_virtual(worker(i)) for i in (0, 1)]
    assert [h.requests for h in halves] == [50, 50]
    merged = LoadRecorder.merged([h.to_payload() for h in halves])
    assert merged.requests == 100
    assert merged.latency.count == 100
    assert merged.statuses == {200: 100}
    assert sum(w.requests for w in merged.windows.windows()) == 100


def test_stop_ends_the_run_and_keeps_what_was_measured() -> None:
    async def go() -> LoadRecorder:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, stop.set)
        return await open_loop(FakeServer(0.001), rate=100, duration_s=60.0, clock=clock, stop=stop)

    recorder = run_virtual(go())
    assert recorder.interrupted
    assert 45 <= recorder.requests <= 52
    assert recorder.elapsed_s == pytest.approx(0.5, abs=0.02)


def test_closed_loop_stops_when_windows_agree() -> None:
    async def go() -> float:
        step = await closed_loop(
            FakeServer(0.010), concurrency=4, window_s=0.5, max_duration_s=10.0, clock=clock
        )
        assert step.stable and step.windows == 3
        return step.throughput

    assert run_virtual(go()) == pytest.approx(100.0, rel=0.02)  # serial 10 ms server


def test_windows_agree_within_tolerance() -> None:
    assert windows_agree([100, 105, 95], 0.10)
    assert not windows_agree([100, 130, 95], 0.10)
    assert not windows_agree([], 0.10)


def test_histogram_percentiles_and_lossless_merge() -> None:
    whole = LatencyHistogram()
    parts = [LatencyHistogram(), LatencyHistogram()]
    for i in range(1, 1001):
        whole.record(i / 1000.0)  # 1..1000 ms
        parts[i % 2].record(i / 1000.0)
    merged = merge_all(p.encode() for p in parts)
    assert merged.count == whole.count == 1000
    for percentile in (50, 90, 99, 99.9):
        assert merged.percentile_ms(percentile) == whole.percentile_ms(percentile)
    assert whole.percentile_ms(50) == pytest.approx(500.0, rel=1e-3)
    assert whole.percentile_ms(99) == pytest.approx(990.0, rel=1e-3)
    summary = whole.summary()
    assert summary["p99_9_ms"] is not None and summary["max_ms"] == pytest.approx(1000, rel=1e-3)
    small = LatencyHistogram()
    small.record(0.001)
    assert small.summary()["p99_9_ms"] is None  # under-sampled, not reported as fact


def test_histogram_clamps_instead_of_dropping() -> None:
    hist = LatencyHistogram()
    hist.record(0.0)
    hist.record(10_000.0)  # far past the top
    assert hist.count == 2


def test_windowed_histograms_merge() -> None:
    first, second = WindowedHistograms(1.0), WindowedHistograms(1.0)
    first.record(0.2, 0.010)
    second.record(1.5, 0.020, error=True)
    first.merge_encoded(second.encode())
    windows = first.windows()
    assert [(w.start_s, w.requests, w.errors) for w in windows] == [(0.0, 1, 0), (1.0, 1, 1)]


def test_a_timer_that_fires_early_never_shortens_a_latency() -> None:
    """uvloop's timers have millisecond resolution and may wake the schedule up to a
    millisecond early; such a send counts from when it really left, not from its slot."""

    async def early(delay: float) -> None:
        await asyncio.sleep(max(delay - 0.001, 0.0))

    async def go() -> LoadRecorder:
        return await open_loop(FakeServer(0.010), rate=20, duration_s=1.0, clock=clock, sleep=early)

    recorder = run_virtual(go())
    assert recorder.requests == 20
    assert recorder.late_sends == 0
    # every request took 10 ms; measured from its slot, the early ones would read 9 ms
    assert recorder.latency.min_ms() == pytest.approx(10.0, abs=0.05)
    assert recorder.latency.min_ms() == pytest.approx(recorder.service.min_ms(), abs=0.01)
