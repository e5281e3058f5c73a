"""Server-side timing headers: W3C `Server-Timing` and the TGI-style `x-*-time` family."""

from __future__ import annotations

import math
from collections.abc import Mapping

# TGI/TEI send seconds in `x-compute-time` and milliseconds in the others (serving.md §3.2).
X_TIME_HEADERS: dict[str, tuple[str, float]] = {
    "x-queue-time": ("queue", 1.0),
    "x-inference-time": ("infer", 1.0),
    "x-validation-time": ("validation", 1.0),
    "x-tokenization-time": ("tokenize", 1.0),
    "x-total-time": ("total", 1.0),
    "x-compute-time": ("compute", 1000.0),
}
TIMING_HEADERS = ("server-timing", *X_TIME_HEADERS)


def parse_server_timing(header: str) -> list[tuple[str, float]]:
    """`db;dur=53, app;dur=47.2` → [("db", 53.0), ("app", 47.2)] in ms.

    Lenient as the spec asks: metrics without `dur`, unknown params and malformed numbers
    are skipped, never an error; a repeated param keeps its first value. A duration that is
    not a finite, non-negative number (`inf`, `NaN`, `-5`) is no duration and is skipped too;
    `read_timing` also says which.
    """
    return _parse_server_timing(header, [])


def _parse_server_timing(header: str, rejected: list[str]) -> list[tuple[str, float]]:
    stages: list[tuple[str, float]] = []
    for metric in _split_outside_quotes(header, ","):
        parts = _split_outside_quotes(metric, ";")
        name = parts[0].strip() if parts else ""
        if not name:
            continue
        duration: float | None = None
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "dur" and duration is None:
                try:
                    duration = float(value.strip().strip('"'))
                except ValueError:
                    duration = None
        if duration is None:
            continue
        if _plausible(duration):
            stages.append((name, duration))
        else:
            rejected.append(f"{name}={duration:g}")
    return stages


def _plausible(duration_ms: float) -> bool:
    return math.isfinite(duration_ms) and duration_ms >= 0


def read_timing(headers: Mapping[str, str]) -> tuple[list[tuple[str, float]], list[str]]:
    """Every stage duration (ms) a response's headers carry, and the values ignored because
    they are no duration (`inf`, `NaN`, negative), as `stage=value` for a notification."""
    rejected: list[str] = []
    stages: list[tuple[str, float]] = []
    header = headers.get("server-timing")
    if header:
        stages.extend(_parse_server_timing(header, rejected))
    for name, (stage, scale) in X_TIME_HEADERS.items():
        value = headers.get(name)
        if value is None:
            continue
        try:
            duration = float(value) * scale
        except ValueError:
            continue
        if _plausible(duration):
            stages.append((stage, duration))
        else:
            rejected.append(f"{stage}={duration:g}")
    return stages, rejected


def timing_stages(headers: Mapping[str, str]) -> list[tuple[str, float]]:
    """Every plausible stage duration (ms) a response's headers carry."""
    return read_timing(headers)[0]


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
