"""Plots as inline SVG, so an HTML report opens with no network and no JavaScript library.

Hand-written on purpose: a plotting library (matplotlib) would add a heavy dependency and
start-up cost for three chart shapes (line, step and grouped bars).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2")
WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 52


def plot_to_svg(plot: Mapping[str, Any]) -> str:
    """Draw one plot dict (the JSON contract's form) as an `<svg>` element."""
    # a series with no finite value (e.g. p99 of windows too small to have one) draws nothing
    # and gets no legend entry
    series = [s for s in plot.get("series", []) if _finite(s.get("y") or [])]
    title = escape(str(plot.get("title", "")))
    if not series:
        return _frame(title, '<text x="50%" y="50%" text-anchor="middle">no data</text>', plot)
    if plot.get("kind") == "bar":
        body = _bars(series)
    else:
        body = _lines(series, step=plot.get("kind") == "step")
    legend = "".join(
        f'<rect x="{LEFT + 130 * i}" y="{HEIGHT - 16}" width="10" height="10" '
        f'fill="{PALETTE[i % len(PALETTE)]}"/>'
        f'<text x="{LEFT + 14 + 130 * i}" y="{HEIGHT - 7}" font-size="11">'
        f"{escape(str(s['name']))[:18]}</text>"
        for i, s in enumerate(series)
    )
    return _frame(title, body + legend, plot)


def _frame(title: str, body: str, plot: Mapping[str, Any]) -> str:
    x_label = escape(str(plot.get("x_label", "")))
    y_label = escape(str(plot.get("y_label", "")))
    return (
        f'<svg class="plot" role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">'
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{title}</text>'
        f'<text x="{(WIDTH + LEFT) // 2}" y="{HEIGHT - 22}" font-size="11" '
        f'text-anchor="middle">{x_label}</text>'
        f'<text x="12" y="{(HEIGHT - BOTTOM + TOP) // 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(HEIGHT - BOTTOM + TOP) // 2})">{y_label}</text>'
        f"{body}</svg>"
    )


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]


def _y_scale(series: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    ys = [v for s in series for v in _finite(s["y"])]
    low = min(0.0, min(ys, default=0.0))
    high = max(ys, default=1.0)
    if high <= low:
        high = low + 1.0
    return low, high


def _axes(low: float, high: float) -> str:
    inner_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
        'stroke="#888"/>',
    ]
    for i in range(5):
        value = low + (high - low) * i / 4
        y = HEIGHT - BOTTOM - inner_h * i / 4
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_tick(value)}</text>"
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>'
        )
    return "".join(parts)


def _lines(series: Sequence[Mapping[str, Any]], *, step: bool) -> str:
    low, high = _y_scale(series)
    xs_all = [v for s in series for v in _finite(s["x"])]
    numeric_x = len(xs_all) == sum(len(s["x"]) for s in series)
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = HEIGHT - TOP - BOTTOM
    x_low, x_high = (min(xs_all), max(xs_all)) if numeric_x and xs_all else (0.0, 1.0)
    if x_high <= x_low:
        x_high = x_low + 1.0
    parts = [_axes(low, high)]
    for i, s in enumerate(series):
        points: list[tuple[float, float]] = []
        n = len(s["y"])
        for j, (x, y) in enumerate(zip(s["x"], s["y"], strict=False)):
            if not (isinstance(y, int | float) and math.isfinite(y)):
                continue
            fx = (float(x) - x_low) / (x_high - x_low) if numeric_x else j / max(n - 1, 1)
            px = LEFT + inner_w * fx
            py = HEIGHT - BOTTOM - inner_h * (float(y) - low) / (high - low)
            if step and points:
                points.append((px, points[-1][1]))
            points.append((px, py))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{path}"/>'
        )
    if numeric_x:
        parts.append(
            f'<text x="{LEFT}" y="{HEIGHT - BOTTOM + 14}" font-size="10">{_tick(x_low)}</text>'
            f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - BOTTOM + 14}" font-size="10" '
            f'text-anchor="end">{_tick(x_high)}</text>'
        )
    return "".join(parts)


def _bars(series: Sequence[Mapping[str, Any]]) -> str:
    low, high = _y_scale(series)
    labels = [str(x) for x in series[0]["x"]]
    groups = max(len(labels), 1)
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = HEIGHT - TOP - BOTTOM
    group_w = inner_w / groups
    bar_w = max(group_w * 0.8 / len(series), 0.5)
    parts = [_axes(low, high)]
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        for j, y in enumerate(s["y"]):
            if not (isinstance(y, int | float) and math.isfinite(y)):
                continue
            height = inner_h * (float(y) - low) / (high - low)
            x = LEFT + group_w * j + group_w * 0.1 + bar_w * i
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" width="{bar_w:.1f}" '
                f'height="{height:.1f}" fill="{colour}" fill-opacity="0.75"/>'
            )
    every = max(1, groups // 10)
    for j, label in enumerate(labels):
        if j % every == 0:
            x = LEFT + group_w * (j + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 12}" font-size="9" '
                f'text-anchor="middle">{escape(label[:10])}</text>'
            )
    return "".join(parts)


def _tick(value: float) -> str:
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-2):
        return f"{value:.2g}"
    return f"{value:.3g}"
