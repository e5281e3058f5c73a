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
