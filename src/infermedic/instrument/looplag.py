"""Event-loop lag sampler: how late `asyncio.sleep` wakes up is how long the loop was blocked."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import Gauge, Histogram

__all__ = ["LoopLagMonitor"]


class LoopLagMonitor:
    """A background task that measures event-loop lag every `interval_s`.

    Each sample is `actual sleep - interval_s` (never below zero). A stall is only seen when
    it ends, so the gauge holds the largest sample of the last one to two `window_s`
    windows (a scrape between two samples still sees a past stall) and the histogram keeps
    every sample. A blocking `model.predict()` in an `async def` route shows here as lag of
    about the prediction's duration.
    """

    def __init__(
        self,
        gauge: Gauge | None = None,
        histogram: Histogram | None = None,
        *,
        interval_s: float = 0.1,
        window_s: float = 10.0,
    ) -> None:
        self.interval_s = interval_s
        self.window_s = window_s
        self._gauge = gauge
        self._histogram = histogram
        self._task: asyncio.Task[None] | None = None
        self.samples = 0
        self.last_lag_s = 0.0
        self.window_max_lag_s = 0.0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start sampling on the running loop (call from a coroutine, e.g. lifespan startup)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="infermedic-loop-lag-monitor"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        window_start = loop.time()
        current_max = 0.0
        previous_max = 0.0
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval_s)
            now = loop.time()
            lag = max(0.0, now - before - self.interval_s)
            if now - window_start >= self.window_s:
                previous_max, current_max, window_start = current_max, 0.0, now
            current_max = max(current_max, lag)
            self.samples += 1
            self.last_lag_s = lag
            self.window_max_lag_s = max(previous_max, current_max)
            if self._gauge is not None:
                self._gauge.set(self.window_max_lag_s)
            if self._histogram is not None:
                self._histogram.observe(lag)
