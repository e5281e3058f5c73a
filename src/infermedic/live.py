"""Live progress of long steps: counters an engine updates while it sends load, read by a display.

A load step (probe's open loop, its concurrency sweep, the blocking canary) can run for tens
of seconds. Its engine announces the step on the meter of the running display, if there is
one, and counts each answered request; the display (`infermedic.cli.live_display`, rich on
stderr, only on a terminal) polls the meter a few times a second for the current rate,
requests done of planned, errors so far, and elapsed and remaining time.

The meter is found through a context variable, so `diagnose` and the demo, which call the
probe, need not pass it through every layer; without a display nothing is counted.
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

Clock = Callable[[], float]
RATE_WINDOW_S = 2.0  # the "current" rate: answers over the last two seconds


@dataclass(frozen=True, kw_only=True, slots=True)
class StepStatus:
    """One look at the running step."""

    step: str
    done: int
    errors: int
    planned_requests: int | None  # None where the count is not known ahead (closed loops)
    planned_s: float | None
    elapsed_s: float
    rate_rps: float

    @property
    def remaining_s(self) -> float | None:
        """By the planned time, else by the requests left at the current rate."""
        if self.planned_s is not None:
            return max(self.planned_s - self.elapsed_s, 0.0)
        if self.planned_requests and self.rate_rps > 0:
            return max(self.planned_requests - self.done, 0) / self.rate_rps
        return None

    @property
    def fraction(self) -> float | None:
        """How far the step is, by requests when their number is planned, else by time."""
        if self.planned_requests:
            return min(self.done / self.planned_requests, 1.0)
        if self.planned_s:
            return min(self.elapsed_s / self.planned_s, 1.0)
        return None


class LoadMeter:
    """Counters of the running step.

    Written by one thread (the engine's event loop) and read by another (the display):
    each field is one int or float, so a reader sees at worst a count one request behind.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._step: str | None = None
        self._planned_requests: int | None = None
        self._planned_s: float | None = None
        self._started = 0.0
        self._done = 0
        self._errors = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def start(
        self, step: str, *, planned_s: float | None = None, planned_requests: int | None = None
    ) -> None:
        """A new step begins: counters restart."""
        self._done = self._errors = 0
        self._planned_requests = planned_requests
        self._planned_s = planned_s
        self._started = self._clock()
        self._samples = collections.deque([(self._started, 0)])
        self._step = step

    def finish(self) -> None:
        """No step runs (the display shows nothing)."""
        self._step = None

    def record(self, *, error: bool) -> None:
        """One request answered (or failed)."""
        self._done += 1
        if error:
            self._errors += 1

    def snapshot(self) -> StepStatus | None:
        """The running step's status, or None between steps. Called by the display only."""
        step = self._step
        if step is None:
            return None
        now, done = self._clock(), self._done
        samples = self._samples
        samples.append((now, done))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()
        then, before = samples[0]
        rate = (done - before) / (now - then) if now > then else 0.0
        return StepStatus(
            step=step,
            done=done,
            errors=self._errors,
            planned_requests=self._planned_requests,
            planned_s=self._planned_s,
            elapsed_s=now - self._started,
            rate_rps=rate,
        )


_CURRENT: ContextVar[LoadMeter | None] = ContextVar("infermedic_load_meter", default=None)


def current_meter() -> LoadMeter | None:
    """The meter of the running display, or None (then nothing needs counting)."""
    return _CURRENT.get()


@contextlib.contextmanager
def metering(meter: LoadMeter) -> Iterator[LoadMeter]:
    """Make `meter` the current one for the engines run inside the block."""
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        meter.finish()
        _CURRENT.reset(token)


__all__ = ["LoadMeter", "StepStatus", "current_meter", "metering"]
