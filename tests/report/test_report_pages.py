"""Every command's HTML report in one real headless Chromium (one browser for the module), at
a 1280x900 desktop viewport, with a full-page screenshot kept beside each page.

Reports come from real runs (audit of a demo repository, drift of seeded Parquet, a quick
profile of a small trained model) and from recorded incidents (diagnose, with the probe
report its run kept). Each page must: load without a console error; put its verdict in the
first screen (the top 900 px); draw every plot across its column (small multiples across
their grid cell) at a readable size; keep every plot text inside its plot, never cut with
"…"; and not overflow the page sideways.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from infermedic.model import Report
from infermedic.report import OutputFormat, render
from tests.browser import Chromium, require_chromium

pytestmark = pytest.mark.browser

FIRST_SCREEN_PX = 900
BUSY = Path(__file__).resolve().parents[1] / "fixtures" / "incidents" / "busy_host"

PAGE_JS = """
(() => {
  const verdict = document.querySelector('.verdict');
  const v = verdict ? verdict.getBoundingClientRect() : null;
  const plots = Array.from(document.querySelectorAll('svg.plot')).map(svg => {
    const box = svg.getBoundingClientRect();
    const column = svg.parentElement.getBoundingClientRect().width;
    const inside = r => r.left >= box.left - 1 && r.right <= box.right + 1 &&
                        r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    const texts = Array.from(svg.querySelectorAll('text'));
    return {
      title: svg.getAttribute('aria-label'),
      small: !!svg.closest('.multiple'),
      share: box.width / column,
      scale: box.width / svg.viewBox.baseVal.width,
      clipped: texts.filter(t => !inside(t.getBoundingClientRect())).map(t => t.textContent),
      ellipsis: texts.filter(t => t.textContent.trim().endsWith('…')).map(t => t.textContent),
      texts: texts.map(t => t.textContent),
    };
  });
  const fix = document.getElementById('fix-first');
  return {
    verdict: verdict ? verdict.textContent.trim() : null,
    fix_first_bottom: fix ? fix.getBoundingClientRect().bottom + window.scrollY : null,
    verdict_bottom: v ? v.bottom + window.scrollY : null,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    plots: plots,
    columns_per_row: (() => {
      const cells = Array.from(document.querySelectorAll('.multiple'));
      if (!cells.length) return 0;
      const top = cells[0].getBoundingClientRect().top;
      return cells.filter(c => Math.abs(c.getBoundingClientRect().top - top) < 2).length;
    })(),
  };
})()
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    require_chromium()
    with Chromium(timeout_s=60) as chromium:
        yield chromium


def show(browser: Chromium, report: Report, directory: Path, name: str) -> dict[str, Any]:
    page = directory / f"{name}.html"
    page.write_text(render(report, OutputFormat.HTML), encoding="utf-8")
    shot = directory / f"{name}.png"
    result = browser.open(page, PAGE_JS, viewport=(1280, FIRST_SCREEN_PX), screenshot=shot)
    assert result.console_errors == [], result.console_errors
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data: dict[str, Any] = result.value
    assert data["verdict"], f"{name}: no verdict"
    assert data["verdict_bottom"] <= FIRST_SCREEN_PX, f"{name}: verdict below the first screen"
    assert data["overflow"] <= 0, f"{name}: the page scrolls sideways by {data['overflow']} px"
    for plot in data["plots"]:
        assert plot["share"] > 0.95, (name, plot["title"], plot["share"])
        # 9-11 px text in the SVG's own units: drawn no smaller than ~85 % of that
        assert plot["scale"] > 0.85, (name, plot["title"], plot["scale"])
        assert plot["clipped"] == [], (name, plot["title"], plot["clipped"])
        assert plot["ellipsis"] == [], (name, plot["title"], plot["ellipsis"])
    return data


def test_audit_report_page(browser: Chromium, tmp_path: Path) -> None:
    from infermedic.audit import audit
    from infermedic.demo.repository import write_scenario

    root = write_scenario("blocking-predict", tmp_path / "svc")
    data = show(browser, audit([root]), tmp_path, "audit")
    assert "SVC001" in data["verdict"] or data["verdict"].startswith(("1 finding", "2 finding"))


LONG_PLANS = (
    "enterprise-annual-contract-with-priority-support",
    "small-business-monthly-no-support",
    "consumer-prepaid-quarterly",
)


def _drift_data(tmp_path: Path) -> tuple[Path, Path]:
    """25 columns, seeded: three features and the model's output shift, the rest do not."""
    rng = np.random.default_rng(17)

    def frame(n: int, shifted: bool) -> pd.DataFrame:
        columns: dict[str, Any] = {f"feature_{i:02d}": rng.normal(size=n) for i in range(21)}
        columns["tenure_months"] = rng.gamma(2.0, 12.0 if not shifted else 20.0, size=n)
        columns["monthly_charges"] = rng.normal(70 + (25 if shifted else 0), 15, size=n)
        weights = [0.2, 0.3, 0.5] if shifted else [0.5, 0.3, 0.2]
        columns["plan"] = rng.choice(LONG_PLANS, size=n, p=weights)
        columns["churn_probability"] = rng.beta(2, 5 if not shifted else 3, size=n)
        return pd.DataFrame(columns)

    reference, current = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    frame(4000, False).to_parquet(reference)
    frame(3000, True).to_parquet(current)
    return reference, current


def test_drift_report_page_leads_with_the_verdict_then_small_multiples(
    browser: Chromium, tmp_path: Path
) -> None:
    from infermedic.drift.api import drift
    from infermedic.drift.presentation import MAX_STABLE_PLOTS
    from infermedic.drift.sources import ColumnOptions

    reference, current = _drift_data(tmp_path)
    report = drift(
        reference, current, column_options=ColumnOptions(predictions=("churn_probability",))
    )
    data = show(browser, report, tmp_path, "drift")
    assert "columns drifted" in data["verdict"] and "predictions shifted" in data["verdict"]
    small = [p for p in data["plots"] if p["small"]]
    titles = [p["title"] for p in small]
    drifted = [t for t in titles if t.endswith(": drifted")]
    assert {"tenure_months: drifted", "monthly_charges: drifted", "plan: drifted"} <= set(drifted)
    # drifted first, then at most MAX_STABLE_PLOTS of the stable columns; the rest counted
    assert titles[: len(drifted)] == drifted
    assert len(titles) - len(drifted) == MAX_STABLE_PLOTS
    assert report.measurements["columns_not_plotted"] == 25 - len(titles)
    assert any("not plotted" in n.message for n in report.notifications)
    assert data["columns_per_row"] >= 2  # a grid of small multiples at 1280 px
    plan = next(p for p in small if p["title"] == "plan: drifted")
    assert set(LONG_PLANS) <= set(plan["texts"])  # full category labels, none cut


def test_profile_report_page(browser: Chromium, tmp_path: Path) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression

    from infermedic.profile import profile_model

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 6))
    model = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(x, x[:, 0] > 0), model)
    report = profile_model(str(model), quick=True)
    data = show(browser, report, tmp_path, "profile")
    batch = [p for p in report.plots if "batch size" in p.x_label]
    assert batch and all(p.x_scale == "log" for p in batch)  # the sweep on a log axis
    assert len(data["plots"]) == len(report.plots)


@pytest.mark.parametrize("incident", ["blocking-predict", "input-drift", "memory-leak"])
def test_diagnose_and_probe_report_pages(browser: Chromium, tmp_path: Path, incident: str) -> None:
    from infermedic.diagnose import replay

    diagnosis = replay(BUSY / f"{incident}.json")
    data = show(browser, diagnosis.to_report(), tmp_path, f"diagnose-{incident}")
    assert data["verdict"] == diagnosis.verdict()
    if diagnosis.root_cause is not None:  # what to do is in the first screen too
        assert data["fix_first_bottom"] is not None
        assert data["fix_first_bottom"] <= FIRST_SCREEN_PX
    # the reports of the checks the incident ran, as `probe`/`drift`/`audit` would write them
    for check in diagnosis.checks:
        if check.report is not None:
            show(browser, check.report, tmp_path, f"{incident}-{check.kind.value}")
