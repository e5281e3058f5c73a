"""The inline SVG plots: round ticks, log axes, labels never cut, the maximum under p99."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from infermedic.report.svg import log_ticks, nice_ticks, plot_to_svg

SVG = "{http://www.w3.org/2000/svg}"


def _plot(kind: str = "line", **extra: object) -> dict[str, object]:
    return {"title": "t", "kind": kind, "x_label": "x", "y_label": "y", **extra}


@pytest.mark.parametrize(
    ("low", "high"), [(0, 57.25), (0.3, 0.93), (-3, 17), (0, 1234567), (1e-4, 3e-3), (5, 5)]
)
def test_ticks_are_round_and_cover_the_range(low: float, high: float) -> None:
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high and 3 <= len(ticks) <= 11
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5, 10))
    assert all(len(f"{t:.12g}") <= 8 for t in ticks)  # no 0.30000000000000004


def test_log_ticks_use_the_data_when_few_and_powers_of_ten_otherwise() -> None:
    batches = [float(2**i) for i in range(10)]
    assert log_ticks(1, 512, batches) == batches
    assert log_ticks(0.5, 2e4) == [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0]


def _texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_a_log_axis_places_decades_evenly() -> None:
    xs = [1.0, 10.0, 100.0, 1000.0]
    svg = plot_to_svg(_plot(x_scale="log", series=[{"name": "median", "x": xs, "y": xs}]))
    line = next(ET.fromstring(svg).iter(f"{SVG}polyline"))
    px = [float(p.split(",")[0]) for p in (line.get("points") or "").split()]
    gaps = [b - a for a, b in zip(px, px[1:], strict=False)]
    assert max(gaps) - min(gaps) < 0.5  # equal spacing per decade: a log axis
    assert {"1", "10", "100", "1000"} <= set(_texts(svg))


def test_long_legend_and_category_names_are_never_cut() -> None:
    names = ["reference (training data, 2026-10-01 to 2026-10-31)", "current (prod week 47)"]
    labels = [f"a-category-with-a-long-name-{i}" for i in range(12)]
    svg = plot_to_svg(
        _plot("bar", series=[{"name": n, "x": labels, "y": [0.1] * 12} for n in names])
    )
    texts = _texts(svg)
    assert set(names) <= set(texts) and set(labels) <= set(texts)
    assert "rotate(-90" in svg  # too long to sit side by side: rotated, not cut


def test_the_maximum_is_drawn_first_and_dashed_so_p99_stays_visible() -> None:
    x = [0, 1, 2]
    series = [
        {"name": "p99", "x": x, "y": [40, 41, 42]},
        {"name": "max", "x": x, "y": [40, 41, 42]},
    ]
    lines = list(ET.fromstring(plot_to_svg(_plot(series=series))).iter(f"{SVG}polyline"))
    assert lines[0].get("stroke-dasharray") and not lines[1].get("stroke-dasharray")


def test_a_flat_plot_is_a_sentence_not_a_chart() -> None:
    svg = plot_to_svg(_plot(series=[{"name": "rss", "x": [1, 2, 3], "y": [120, 120, 120]}]))
    assert "<polyline" not in svg and "flat: every value is 120 y" in svg
    varied = plot_to_svg(_plot(series=[{"name": "rss", "x": [1, 2, 3], "y": [120, 121, 120]}]))
    assert "<polyline" in varied


def test_labels_are_escaped() -> None:
    svg = plot_to_svg(_plot("bar", series=[{"name": "<b>", "x": ["</svg>&"], "y": [1]}]))
    ET.fromstring(svg)  # well-formed: nothing leaked into the markup
    assert re.search(r"&lt;/svg&gt;&amp;", svg)


def test_value_labels_read_like_numbers() -> None:
    from infermedic.report.svg import _tick

    assert [_tick(v) for v in (0, 0.25, 512, 1000, 25_000, 1.5e6, 0.001)] == [
        "0", "0.25", "512", "1000", "25k", "1.5M", "0.001",
    ]  # fmt: skip


def test_a_measured_log_axis_gets_round_ticks_not_the_data_values() -> None:
    """Batch sizes are chosen values and label the x axis; measured rows/s are not round
    numbers and must not label the y axis (817k, 402k ... was the bug)."""
    assert log_ticks(0.28, 2.6) == [0.2, 0.5, 1.0, 2.0, 5.0]
    batches = [float(2**i) for i in range(9)]
    rows_per_s = [3215.0 * 2**i * 0.99**i for i in range(9)]
    svg = plot_to_svg(
        _plot(
            x_scale="log", y_scale="log", series=[{"name": "rows/s", "x": batches, "y": rows_per_s}]
        )
    )
    texts = set(_texts(svg))
    assert {"1", "2", "256"} <= texts  # the chosen batch sizes
    assert {"1000", "10k", "100k", "1M"} <= texts and "3215" not in texts


def test_a_legend_name_wider_than_a_small_plot_wraps_instead_of_running_out() -> None:
    name = "reference (/data/warehouse/exports/churn/2026-11/reference-window.parquet)"
    svg = plot_to_svg(
        _plot("bar", size="small", series=[{"name": name, "x": ["a", "b"], "y": [0.4, 0.6]}])
    )
    root = ET.fromstring(svg)
    width = float((root.get("viewBox") or "").split()[2])
    legend = [t for t in root.iter(f"{SVG}text") if t.get("class") == "legend"]
    assert "".join(t.text or "" for t in legend) == name  # all of it, over several rows
    assert len(legend) > 1
    assert all(float(t.get("x") or 0) + len(t.text or "") * 6.2 <= width for t in legend)
