"""Latency histograms: HdrHistogram in microseconds, mergeable across worker processes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

# 1 µs .. 10 min: a stalled request is still recorded (clamped to the top, never dropped).
LOWEST_US = 1
HIGHEST_US = 600_000_000
RUN_DIGITS = 3  # whole-run histograms: 0.1 % value error
WINDOW_DIGITS = 2  # per-window histograms: 1 % error, a tenth of the memory

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)
# p99.9 from fewer samples is the max of a handful of values; said so instead of shown as fact.
MIN_SAMPLES_P999 = 1000


class LatencyHistogram:
    """An HDR histogram of latencies, recorded in seconds and stored as whole microseconds."""

    __slots__ = ("_hist",)

    def __init__(self, digits: int = RUN_DIGITS) -> None:
        self._hist = HdrHistogram(LOWEST_US, HIGHEST_US, digits)

    def record(self, seconds: float) -> None:
        micros = int(seconds * 1e6 + 0.5)
        self._hist.record_value(min(max(micros, LOWEST_US), HIGHEST_US))

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def percentile_ms(self, percentile: float) -> float:
        if self.count == 0:
            return float("nan")
        return float(self._hist.get_value_at_percentile(percentile)) / 1000.0

    def max_ms(self) -> float:
        return float(self._hist.get_max_value()) / 1000.0 if self.count else float("nan")

    def min_ms(self) -> float:
        return float(self._hist.get_min_value()) / 1000.0 if self.count else float("nan")

    def mean_ms(self) -> float:
        return float(self._hist.get_mean_value()) / 1000.0 if self.count else float("nan")

    def merge(self, other: LatencyHistogram) -> None:
        self._hist.add(other._hist)

    def encode(self) -> bytes:
        """The compressed V2 wire form ("histoblob") that worker processes send back."""
        return bytes(self._hist.encode())

    def merge_encoded(self, blob: bytes) -> None:
        if blob:
            self._hist.decode_and_add(blob)

    @classmethod
    def decode(cls, blob: bytes, digits: int = RUN_DIGITS) -> LatencyHistogram:
        hist = cls(digits)
        hist.merge_encoded(blob)
        return hist

    def summary(self) -> dict[str, Any]:
        """Count, mean, p50..p99.9 and max in ms; p99.9 is None when under-sampled."""
        data: dict[str, Any] = {"count": self.count}
        if self.count == 0:
            return data
        data["mean_ms"] = round(self.mean_ms(), 3)
        data["min_ms"] = round(self.min_ms(), 3)
        for percentile in PERCENTILES:
            key = percentile_key(percentile)
            if percentile == 99.9 and self.count < MIN_SAMPLES_P999:
                data[key] = None
                continue
            data[key] = round(self.percentile_ms(percentile), 3)
        data["max_ms"] = round(self.max_ms(), 3)
        return data


def percentile_key(percentile: float) -> str:
    """`p50_ms`, `p99_9_ms`: JSON keys without dots."""
    text = f"{percentile:g}".replace(".", "_")
    return f"p{text}_ms"


@dataclass(frozen=True, kw_only=True, slots=True)
class WindowStats:
    """One time window of a load run (by intended send time)."""

    start_s: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
        }


class WindowedHistograms:
    """Per-window histograms keyed by window index, mergeable like the whole-run ones."""

    __slots__ = ("_errors", "_windows", "window_s")

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._windows: dict[int, LatencyHistogram] = {}
        self._errors: dict[int, int] = {}

    def record(self, offset_s: float, seconds: float, *, error: bool = False) -> None:
        index = max(int(offset_s // self.window_s), 0)
        hist = self._windows.get(index)
        if hist is None:
            hist = self._windows[index] = LatencyHistogram(WINDOW_DIGITS)
        hist.record(seconds)
        if error:
            self._errors[index] = self._errors.get(index, 0) + 1

    def encode(self) -> dict[int, tuple[bytes, int]]:
        return {i: (h.encode(), self._errors.get(i, 0)) for i, h in self._windows.items()}

    def merge_encoded(self, encoded: Mapping[int, tuple[bytes, int]]) -> None:
        for index, (blob, errors) in encoded.items():
            hist = self._windows.get(index)
            if hist is None:
                hist = self._windows[index] = LatencyHistogram(WINDOW_DIGITS)
            hist.merge_encoded(blob)
            self._errors[index] = self._errors.get(index, 0) + errors

    def windows(self) -> list[WindowStats]:
        return [
            WindowStats(
                start_s=round(index * self.window_s, 3),
                requests=hist.count,
                errors=self._errors.get(index, 0),
                p50_ms=hist.percentile_ms(50),
                p99_ms=hist.percentile_ms(99),
                max_ms=hist.max_ms(),
            )
            for index, hist in sorted(self._windows.items())
        ]


def merge_all(blobs: Iterable[bytes], digits: int = RUN_DIGITS) -> LatencyHistogram:
    merged = LatencyHistogram(digits)
    for blob in blobs:
        merged.merge_encoded(blob)
    return merged
