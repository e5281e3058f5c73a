"""The HTML report in a real headless browser: it loads with no console errors and draws
every plot with a visible size."""

from __future__ import annotations

from pathlib import Path

import pytest

from infermedic.report import OutputFormat, render
from tests.browser import open_page, require_chromium
from tests.report.test_formats import sample_report

pytestmark = pytest.mark.browser

PLOTS_JS = """
(() => Array.from(document.querySelectorAll('svg.plot')).map(svg => {
  const box = svg.getBoundingClientRect();
  return {w: box.width, h: box.height, marks: svg.querySelectorAll('polyline, rect').length};
}))()
"""


def test_html_report_loads_cleanly_and_shows_its_plots(tmp_path: Path) -> None:
    require_chromium()
    page = tmp_path / "report.html"
    page.write_text(render(sample_report(), OutputFormat.HTML), encoding="utf-8")
    result = open_page(page, PLOTS_JS)
    assert result.console_errors == []
    assert len(result.value) == 2
    assert all(p["w"] > 100 and p["h"] > 100 and p["marks"] > 0 for p in result.value)


def test_the_browser_check_sees_console_errors(tmp_path: Path) -> None:
    """The check itself can fail: a page that throws is caught."""
    require_chromium()
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>throw new Error('boom')</script></body></html>")
    result = open_page(page, "1")
    assert any("boom" in e for e in result.console_errors)


LAYOUT_JS = """
(() => Array.from(document.querySelectorAll('svg.plot')).map(svg => {
  const box = svg.getBoundingClientRect();
  const column = svg.parentElement.getBoundingClientRect().width;
  const inside = r => r.left >= box.left - 1 && r.right <= box.right + 1 &&
                      r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  const texts = Array.from(svg.querySelectorAll('text'));
  const legend = Array.from(svg.querySelectorAll('text.legend'))
    .map(t => t.getBoundingClientRect());
  let overlaps = 0;
  for (let i = 0; i < legend.length; i++) for (let j = i + 1; j < legend.length; j++) {
    const a = legend[i], b = legend[j];
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
  }
  return {share: box.width / column, clipped: texts.filter(t => !inside(t.getBoundingClientRect()))
          .map(t => t.textContent), overlaps: overlaps};
}))()
"""


def test_plots_fill_their_column_and_no_label_is_clipped(tmp_path: Path) -> None:
    """Measured in the browser: every text of every plot lies inside the plot, legends do not
    overlap, and each plot spans its column."""
    from infermedic.model import Plot, Report, Series

    require_chromium()
    long_names = tuple(f"reference window {i} (training data 2026-10)" for i in range(5))
    categories = tuple(f"plan-type-{i}-with-a-long-label" for i in range(16))
    batches = tuple(float(2**i) for i in range(10))
    report = Report(
        tool="profile",
        plots=(
            Plot(
                title="batch",
                kind="line",
                x_label="batch size",
                y_label="ms",
                x_scale="log",
                y_scale="log",
                series=tuple(
                    Series(name=n, x=batches, y=tuple(0.1 * (i + 1) * b for b in batches))
                    for i, n in enumerate(long_names)
                ),
            ),
            Plot(
                title="categories",
                kind="bar",
                x_label="category",
                y_label="share",
                series=tuple(
                    Series(name=n, x=categories, y=tuple(0.01 * (j % 5 + 1) for j in range(16)))
                    for n in long_names[:2]
                ),
            ),
        ),
    )
    page = tmp_path / "plots.html"
    page.write_text(render(report, OutputFormat.HTML), encoding="utf-8")
    result = open_page(page, LAYOUT_JS)
    assert result.console_errors == []
    assert len(result.value) == 2
    for plot in result.value:
        assert plot["clipped"] == [] and plot["overlaps"] == 0, plot
        assert plot["share"] > 0.95, plot
