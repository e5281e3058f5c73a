"""The timing harness: adaptive replicates of one call until the median is stable or a cap.

Modelled on `torch.utils.benchmark.Timer.blocked_autorange`: calls are grouped in blocks long
enough that the clock's own cost is negligible, and blocks are taken until the median's
95% confidence interval (McGill's notch, 1.57 * IQR / sqrt(n)) is within `rel_ci` of the
median, or the time cap is reached. It is hand-written because torch is an optional extra
and `timeit` has no stopping rule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from typing import Any

CallTarget = Callable[[], object]


@dataclass(frozen=True, kw_only=True, slots=True)
class Timing:
    """Per-call seconds of one measured cell: median and quartiles over blocks."""

    median_s: float
    q1_s: float
    q3_s: float
    calls: int
    blocks: int
    calls_per_block: int
    total_s: float
    stable: bool  # the stopping rule was met before the time cap

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median_s,
            "q1_s": self.q1_s,
            "q3_s": self.q3_s,
            "iqr_s": self.iqr_s,
            "calls": self.calls,
            "blocks": self.blocks,
            "calls_per_block": self.calls_per_block,
            "total_s": self.total_s,
            "stable": self.stable,
        }


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """Q1, median, Q3 by linear interpolation (numpy's default method)."""
    ordered = sorted(values)
    return _at(ordered, 0.25), _at(ordered, 0.5), _at(ordered, 0.75)


def _at(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def time_once(call: CallTarget) -> float:
    """Seconds for one call, e.g. the first call after load."""
    start = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - start) / 1e9


def measure(
    call: CallTarget,
    *,
    min_time_s: float = 0.1,
    max_time_s: float = 0.5,
    block_target_s: float = 0.0005,
    rel_ci: float = 0.05,
    min_blocks: int = 7,
) -> Timing:
    """Time `call` adaptively; the caller warms it up first (the first call is its own cell)."""
    clock = time.perf_counter_ns
    block_target_ns = block_target_s * 1e9
    # Calibrate calls per block so a block is long next to the clock's ~50 ns resolution.
    number = 1
    while True:
        start = clock()
        for _ in repeat(None, number):
            call()
        elapsed = clock() - start
        if elapsed >= block_target_ns or number >= 1 << 20:
            break
        grow = block_target_ns / max(elapsed, 1)
        number = max(number * 2, min(int(number * grow * 1.2), number * 100))
    # The calibration blocks double as the warm-up and are not kept.
    per_call: list[float] = []
    begin = clock()
    max_ns = max_time_s * 1e9
    min_ns = min_time_s * 1e9
    stable = False
    while True:
        start = clock()
        for _ in repeat(None, number):
            call()
        end = clock()
        per_call.append((end - start) / number)
        spent = end - begin
        if spent >= max_ns:
            break
        blocks = len(per_call)
        if spent >= min_ns and blocks >= min_blocks and blocks % 4 == 0:
            q1, median, q3 = quartiles(per_call)
            if 1.57 * (q3 - q1) / math.sqrt(blocks) <= rel_ci * median:
                stable = True
                break
    q1, median, q3 = quartiles(per_call)
    return Timing(
        median_s=median / 1e9,
        q1_s=q1 / 1e9,
        q3_s=q3 / 1e9,
        calls=len(per_call) * number,
        blocks=len(per_call),
        calls_per_block=number,
        total_s=(clock() - begin) / 1e9,
        stable=stable,
    )
