"""The demo tour end to end, as `make demo` runs it: real services on 127.0.0.1, traffic,
diagnose from the symptom, reports written, the audit log appended, services stopped.

Four scenarios keep CI short; `infermedic demo --all` runs the other nine the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from infermedic.demo.runner import run_tour, tour_scenarios
from infermedic.diagnose.timeline import read_entries
from tests.browser import open_page, require_chromium

pytestmark = [pytest.mark.server, pytest.mark.slow]

SCENARIOS = ("healthy", "blocking-predict", "no-validation", "input-drift")

PLOTS_JS = """
(() => ({
  plots: Array.from(document.querySelectorAll('svg.plot')).map(svg => {
    const box = svg.getBoundingClientRect();
    return {w: box.width, h: box.height, marks: svg.querySelectorAll('polyline, rect').length,
            note: svg.classList.contains('plot-note')};
  }),
  headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
}))()
"""


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    workdir = tmp_path_factory.mktemp("tour")
    before = {p.pid for p in psutil.process_iter()}
    result = run_tour(tour_scenarios(SCENARIOS, everything=False), workdir)
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if p.pid not in before and "infermedic.demo.launch" in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == [], "a scenario service outlived the tour"
    return workdir, result


def test_each_planted_fault_is_named_as_the_root_cause(tour: tuple[Path, object]) -> None:
    _, result = tour
    outcomes = {o.scenario.name: o for o in result.outcomes}  # type: ignore[attr-defined]
    assert set(outcomes) == set(SCENARIOS)
    for name, outcome in outcomes.items():
        assert outcome.error is None, (name, outcome.error)
        assert outcome.found_cause == outcome.expected_cause, (name, outcome.found_title)
    assert outcomes["healthy"].found_cause is None
    # where two independent checks exist, both corroborate
    assert set(outcomes["blocking-predict"].sources) >= {"audit", "probe"}
    assert set(outcomes["no-validation"].sources) >= {"audit", "probe"}


def test_reports_and_audit_log_are_written(tour: tuple[Path, object]) -> None:
    workdir, _ = tour
    for name in SCENARIOS:
        data = json.loads((workdir / name / "report.json").read_text())
        assert data["tool"]["command"] == "diagnose"
        diagnosis = data["measurements"]["diagnosis"]
        assert diagnosis["symptom"]
        if name != "healthy":
            root = diagnosis["root_cause"]
            assert root["status"] == "confirmed"
            # every piece of evidence names what was run or sent and what came back
            assert all(e["evidence"] for e in root["evidence"])
            assert all(
                ev["action"] and ev["observed"] for e in root["evidence"] for ev in e["evidence"]
            )
        markdown = (workdir / name / "report.md").read_text()
        for heading in (
            "## Issue summary",
            "## Root-cause analysis",
            "## Root cause",
            "## Solution",
            "## Prevention",
        ):
            assert heading in markdown
    entries = read_entries(workdir / "ops" / "audit.jsonl")
    assert [e["symptom"] for e in entries] == [
        next(o.scenario.symptom for o in tour[1].outcomes if o.scenario.name == n)  # type: ignore[attr-defined]
        for n in SCENARIOS
    ]
    assert (workdir / "index.html").is_file()


@pytest.mark.browser
def test_the_html_report_loads_in_a_browser_and_shows_its_plots(tour: tuple[Path, object]) -> None:
    require_chromium()
    workdir, _ = tour
    result = open_page(workdir / "blocking-predict" / "report.html", PLOTS_JS)
    assert result.console_errors == []
    plots = result.value["plots"]
    assert len(plots) >= 2  # latency over time, latency vs concurrency
    # a flat series is said in a sentence (a note), every other plot is drawn
    assert all(p["note"] or (p["w"] > 100 and p["h"] > 100 and p["marks"] > 0) for p in plots)
    assert "Root cause" in result.value["headings"]


def test_the_demo_command_runs_a_named_scenario_and_says_where_the_report_is(
    tmp_path: Path,
) -> None:
    """`infermedic demo SCENARIO` as the README runs it (the fastest scenario)."""
    import subprocess
    import sys

    workdir = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "infermedic", "demo", "input-drift", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1/1 planted faults diagnosed as planted" in result.stdout
    index = workdir / "index.html"
    assert f"HTML report: {index.resolve()}" in result.stdout
    assert "input-drift/report.html" in index.read_text()
