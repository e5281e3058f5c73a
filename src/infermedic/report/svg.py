"""Plots as inline SVG, so an HTML report opens with no network and no JavaScript library.

Hand-written on purpose: a plotting library (matplotlib, or Vega with its ~1 MB runtime
inlined in every report) would add a heavy dependency or script to draw three chart shapes
(line, step and grouped bars). What a library would give for free is kept here explicitly:
round tick values (Heckbert's "nice numbers"), log axes where values span decades, legends
and category labels that are never cut, a plot as wide as its column, and a maximum drawn
under the percentiles so it cannot hide them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2")
WIDTH, HEIGHT = 960, 320
# one of a grid of small multiples (drift's per-column distributions): drawn at its own size,
# never a full plot scaled down, so its text stays as large as the full plots'
SMALL_WIDTH, SMALL_HEIGHT = 470, 220
LEFT, RIGHT, TOP, BOTTOM = 72, 20, 30, 44
CHAR_W = 6.2  # average width of an 11 px sans-serif character, for laying out text
LEGEND_ROW = 16
# A series named like this is an envelope drawn under the others, thin and dashed.
ENVELOPE_NAMES = frozenset({"max", "maximum", "min", "minimum"})


def plot_to_svg(plot: Mapping[str, Any]) -> str:
    """Draw one plot dict (the JSON contract's form) as an `<svg>` element."""
    # a series with no finite value (e.g. p99 of windows too small to have one) draws nothing
    # and gets no legend entry
    series = [s for s in plot.get("series", []) if _finite(s.get("y") or [])]
    title = escape(str(plot.get("title", "")))
    small = plot.get("size") == "small"
    width, base_height = (SMALL_WIDTH, SMALL_HEIGHT) if small else (WIDTH, HEIGHT)
    if not series:
        return _frame(title, _note("no data"), plot, width, height=70, axes=False)
    values = {v for s in series for v in _finite(s["y"])}
    points = sum(len(_finite(s["y"])) for s in series)
    if plot.get("kind") != "bar" and len(values) == 1 and points > 1:
        # A flat line shows nothing a sentence does not: say it instead of drawing it. (Equal
        # bars are a shape worth seeing: a uniform distribution.)
        (value,) = values
        unit = str(plot.get("y_label", ""))
        note = _note(f"flat: every value is {_tick(value)} {unit}".strip())
        return _frame(title, note, plot, width, height=70, axes=False)
    legend, rows = _legend(series, width)
    height = base_height + LEGEND_ROW * max(rows - 1, 0)
    if plot.get("kind") == "bar":
        labels = [str(x) for x in series[0]["x"]]
        rotate = _needs_rotation(labels, width)
        # rotated labels stand upright below the axis: they need height, never width
        extra = int(max(map(len, labels), default=0) * CHAR_W * 0.85) if rotate else 0
        height += extra
        body = _bars(
            series, labels, width, rotate=rotate, bottom=height - BOTTOM - extra - 16 * rows
        )
    else:
        body = _lines(
            series,
            width,
            step=plot.get("kind") == "step",
            log_x=plot.get("x_scale") == "log",
            log_y=plot.get("y_scale") == "log",
            bottom=height - BOTTOM - 16 * rows,
        )
    return _frame(title, body + _place_legend(legend, height), plot, width, height)


def _frame(
    title: str,
    body: str,
    plot: Mapping[str, Any],
    width: int,
    height: int = HEIGHT,
    *,
    axes: bool = True,
) -> str:
    labels = ""
    if axes:
        x_label = escape(str(plot.get("x_label", "")))
        y_label = escape(str(plot.get("y_label", "")))
        middle = (height - BOTTOM + TOP) // 2
        labels = (
            f'<text x="{(width + LEFT) // 2}" y="{height - 8}" font-size="11" '
            f'text-anchor="middle">{x_label}</text>'
            f'<text x="14" y="{middle}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 14 {middle})">{y_label}</text>'
        )
    classes = "plot" if axes else "plot plot-note"
    return (
        f'<svg class="{classes}" role="img" aria-label="{title}" '
        f'xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
        f"<title>{title}</title>"
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{title}</text>'
        f"{labels}{body}</svg>"
    )


def _note(text: str) -> str:
    return f'<text x="{LEFT}" y="46" font-size="12" fill="#555">{escape(text)}</text>'


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if _is_number(v)]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    step = _nice((high - low) / max(count - 1, 1), rounded=True)
    start = math.floor(low / step) * step
    stop = math.ceil(high / step) * step
    n = round((stop - start) / step)
    return [_clean(start + i * step) for i in range(n + 1)]


def _nice(value: float, *, rounded: bool) -> float:
    exponent = math.floor(math.log10(value))
    fraction = value / 10.0**exponent
    if rounded:
        nice = 1.0 if fraction < 1.5 else 2.0 if fraction < 3 else 5.0 if fraction < 7 else 10.0
    else:
        nice = 1.0 if fraction <= 1 else 2.0 if fraction <= 2 else 5.0 if fraction <= 5 else 10.0
    return nice * 10.0**exponent


def _clean(value: float) -> float:
    # 0.30000000000000004 -> 0.3: ticks are printed, so float noise must not show
    return float(f"{value:.12g}")


def log_ticks(low: float, high: float, data: Sequence[float] = ()) -> list[float]:
    """Ticks for a log axis: the data's own values when they are few (batch sizes 1, 2, 4,
    ... 512: pass them as `data`, for an x axis of chosen sizes), else round values: 1, 2
    and 5 times the powers of ten over at most two decades, the powers alone beyond."""
    distinct = sorted({v for v in data if v > 0})
    if 2 <= len(distinct) <= 12:
        return distinct
    first = math.floor(math.log10(low))
    last = math.ceil(math.log10(high))
    if last - first > 2:
        return [10.0**e for e in range(first, last + 1)]
    steps = [_clean(m * 10.0**e) for e in range(first, last + 1) for m in (1, 2, 5)]
    below = [t for t in steps if t <= low]
    above = [t for t in steps if t >= high]
    start, stop = (below[-1] if below else steps[0]), (above[0] if above else steps[-1])
    return [t for t in steps if start <= t <= stop]


class _Axis:
    """Maps data values to pixels, linearly or on a log scale."""

    def __init__(self, low: float, high: float, start: float, end: float, *, log: bool) -> None:
        self.log = log
        self.low, self.high = (math.log10(low), math.log10(high)) if log else (low, high)
        if self.high <= self.low:
            self.high = self.low + 1.0
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.start + (self.end - self.start) * (v - self.low) / (self.high - self.low)


def _range(
    values: Sequence[float], *, log: bool, zero: bool, data_ticks: bool = False
) -> tuple[float, float, list[float]]:
    if log:
        positive = [v for v in values if v > 0] or [1.0]
        # measured values are no ticks (817k, 402k ...): only chosen x values (batch sizes)
        ticks = log_ticks(min(positive), max(positive), positive if data_ticks else ())
        return min(ticks[0], min(positive)), max(ticks[-1], max(positive)), ticks
    low = min(min(values), 0.0) if zero else min(values)
    ticks = nice_ticks(low, max(values))
    return ticks[0], ticks[-1], ticks


def _lines(
    series: Sequence[Mapping[str, Any]],
    width: int,
    *,
    step: bool,
    log_x: bool,
    log_y: bool,
    bottom: float,
) -> str:
    ys = [v for s in series for v in _finite(s["y"])]
    xs_all = [v for s in series for v in _finite(s["x"])]
    numeric_x = len(xs_all) == sum(len(s["x"]) for s in series) and bool(xs_all)
    log_x = log_x and numeric_x and any(v > 0 for v in xs_all)
    y_low, y_high, y_ticks = _range(ys, log=log_y and any(v > 0 for v in ys), zero=not log_y)
    y_axis = _Axis(y_low, y_high, bottom, TOP, log=log_y and any(v > 0 for v in ys))
    if numeric_x:
        x_low, x_high, x_ticks = _range(xs_all, log=log_x, zero=False, data_ticks=True)
        if not log_x:  # a time or size axis starts at its first value, not at a rounded one
            x_low, x_high = min(xs_all), max(xs_all)
            x_ticks = [t for t in x_ticks if x_low <= t <= x_high] or [x_low, x_high]
    else:
        longest = max(len(s["x"]) for s in series)
        x_low, x_high, x_ticks = 0.0, float(max(longest - 1, 1)), []
    x_axis = _Axis(x_low, x_high, LEFT, width - RIGHT, log=log_x)
    parts = [_y_grid(y_ticks, y_axis, bottom, width), _x_ticks(x_ticks, x_axis, bottom)]
    order = sorted(range(len(series)), key=lambda i: _is_envelope(series[i]), reverse=True)
    for i in order:
        s = series[i]
        points: list[tuple[float, float]] = []
        for j, (x, y) in enumerate(zip(s["x"], s["y"], strict=False)):
            if not _is_number(y) or (y_axis.log and y <= 0):
                continue
            fx = float(x) if numeric_x else float(j)
            if x_axis.log and fx <= 0:
                continue
            px, py = x_axis(fx), y_axis(float(y))
            if step and points:
                points.append((px, points[-1][1]))
            points.append((px, py))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        colour = PALETTE[i % len(PALETTE)]
        style = (
            'stroke-width="1.2" stroke-dasharray="4 3" stroke-opacity="0.7"'
            if _is_envelope(s)
            else 'stroke-width="2"'
        )
        parts.append(f'<polyline fill="none" stroke="{colour}" {style} points="{path}"/>')
        if len(points) == 1:  # one point draws no line: mark it
            (px, py) = points[0]
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
    return "".join(parts)


def _is_envelope(series: Mapping[str, Any]) -> bool:
    return str(series.get("name", "")).strip().lower() in ENVELOPE_NAMES


def _y_grid(ticks: Sequence[float], axis: _Axis, bottom: float, width: int) -> str:
    parts = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{bottom}" x2="{width - RIGHT}" y2="{bottom}" stroke="#888"/>',
    ]
    for value in ticks:
        y = axis(value)
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_tick(value)}</text>"
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{width - RIGHT}" y2="{y:.1f}" stroke="#eee"/>'
        )
    return "".join(parts)


def _x_ticks(ticks: Sequence[float], axis: _Axis, bottom: float) -> str:
    return "".join(
        f'<line x1="{axis(v):.1f}" y1="{bottom}" x2="{axis(v):.1f}" y2="{bottom + 4}" '
        f'stroke="#888"/><text x="{axis(v):.1f}" y="{bottom + 15}" font-size="10" '
        f'text-anchor="middle">{_tick(v)}</text>'
        for v in ticks
    )


def _needs_rotation(labels: Sequence[str], width: int) -> bool:
    slot = (width - LEFT - RIGHT) / max(len(labels), 1)
    return max((len(label) for label in labels), default=0) * CHAR_W * 0.85 > slot


def _bars(
    series: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
    width: int,
    *,
    rotate: bool,
    bottom: float,
) -> str:
    ys = [v for s in series for v in _finite(s["y"])]
    low, high, ticks = _range(ys, log=False, zero=True)
    axis = _Axis(low, high, bottom, TOP, log=False)
    groups = max(len(labels), 1)
    group_w = (width - LEFT - RIGHT) / groups
    bar_w = max(group_w * 0.8 / len(series), 0.5)
    parts = [_y_grid(ticks, axis, bottom, width)]
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        for j, y in enumerate(s["y"]):
            if not _is_number(y):
                continue
            top, base = axis(max(float(y), 0.0)), axis(min(float(y), 0.0))
            x = LEFT + group_w * j + group_w * 0.1 + bar_w * i
            label = escape(f"{s['name']} · {labels[j] if j < len(labels) else j}: {_tick(y)}")
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                f'height="{max(base - top, 0.0):.1f}" fill="{colour}" fill-opacity="0.8">'
                f"<title>{label}</title></rect>"
            )
    # every label when they fit (rotated if need be), else an evenly spaced subset
    every = max(1, math.ceil(groups / 40)) if rotate else 1
    for j, label in enumerate(labels):
        if j % every:
            continue
        x = LEFT + group_w * (j + 0.5)
        text = escape(label)
        if rotate:
            parts.append(
                f'<text x="{x + 3:.1f}" y="{bottom + 8}" font-size="9" text-anchor="end" '
                f'transform="rotate(-90 {x + 3:.1f} {bottom + 8})">{text}</text>'
            )
        else:
            parts.append(
                f'<text x="{x:.1f}" y="{bottom + 13}" font-size="10" '
                f'text-anchor="middle">{text}</text>'
            )
    return "".join(parts)


def _legend(
    series: Sequence[Mapping[str, Any]], width: int
) -> tuple[list[tuple[int, int, str | None, str]], int]:
    """Legend entries as (row, x, colour, escaped text), wrapped into rows; never cut. A name
    wider than the plot (a dataset's path in a small multiple) is broken over several rows,
    its swatch on the first (colour None on the others)."""
    entries: list[tuple[int, int, str | None, str]] = []
    fits = max(int((width - RIGHT - LEFT - 14) / (CHAR_W * 1.1)), 8)
    row, x = 0, LEFT
    for i, s in enumerate(series):
        name = str(s["name"])
        colour = PALETTE[i % len(PALETTE)]
        if len(name) > fits:
            if x > LEFT:
                row += 1
            for number, line in enumerate(_wrap(name, fits)):
                entries.append((row, LEFT, colour if number == 0 else None, escape(line)))
                row += 1
            x = LEFT
            continue
        entry = int(len(name) * CHAR_W) + 30
        if x + entry > width - RIGHT and x > LEFT:
            row, x = row + 1, LEFT
        entries.append((row, x, colour, escape(name)))
        x += entry
    rows = max((r for r, *_ in entries), default=0) + 1
    return entries, rows


def _wrap(text: str, limit: int) -> list[str]:
    """`text` in lines of at most `limit` characters, broken after a `/`, space, `_` or `-`
    in the second half of a line where there is one."""
    lines = []
    while len(text) > limit:
        cut = max(text.rfind(sep, limit // 2, limit) for sep in "/ _-")
        cut = cut + 1 if cut > 0 else limit
        lines.append(text[:cut])
        text = text[cut:]
    lines.append(text)
    return lines


def _place_legend(entries: Sequence[tuple[int, int, str | None, str]], height: int) -> str:
    rows = max((row for row, *_ in entries), default=0) + 1
    parts = []
    for row, x, colour, name in entries:
        y = height - 24 - LEGEND_ROW * (rows - 1 - row)
        if colour is not None:
            parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text class="legend" x="{x + 14}" y="{y}" font-size="11">{name}</text>')
    return "".join(parts)


def _tick(value: float) -> str:
    """A tick or value label: 0.25, 512, 1000, 25k, 1.5M; tiny values in exponent form."""
    magnitude = abs(value)
    if magnitude >= 1e4:
        for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if magnitude >= scale:
                return f"{value / scale:.3g}{suffix}"
    if value != 0 and magnitude < 1e-2:
        return f"{value:.2g}"
    return f"{value:.4g}"
