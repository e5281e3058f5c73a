"""`demo SCENARIO --fix` end to end on blocking-predict (SVC001), with real servers.

Live and slow: the scenario is diagnosed, fixed in its scratch git work tree, served again
from the fixed code and diagnosed again. On a busy 2-core host the measured latencies are
not compared (the unit tests check the table); only that both runs measured the same load
plan, that the root cause is gone, the regression tests pass, and the audit log holds the
timeline.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infermedic.demo.fixing import LOAD_REQUESTS
from infermedic.demo.runner import run_scenario
from infermedic.demo.scenarios import get_scenario
from infermedic.diagnose.timeline import read_entries


@pytest.mark.slow
@pytest.mark.server
def test_blocking_predict_fixed_rediagnosed_and_guarded(tmp_path: Path) -> None:
    outcome = run_scenario(get_scenario("blocking-predict"), tmp_path, duration_s=4.0, fix=True)
    assert outcome.error is None and outcome.found_cause == "event-loop-blocking"
    fixed = outcome.fixed
    assert fixed is not None and fixed.applied, fixed
    assert fixed.applied[0].startswith("SVC001 app/main.py")
    assert fixed.root_cause_gone, fixed.after_supported
    assert fixed.before is not None and fixed.after is not None
    for load in (fixed.before, fixed.after):
        assert load.requests == LOAD_REQUESTS or load.answered > 0
        assert load.p99_ms is not None and load.throughput_rps > 0
    assert fixed.tests is not None and fixed.tests.ok and fixed.tests.passed == 2, fixed.tests

    service = tmp_path / "blocking-predict" / "service"
    diff = subprocess.run(
        ["git", "-C", str(service), "diff", "--stat"], capture_output=True, text=True, check=True
    ).stdout
    assert "app/main.py" in diff
    assert (tmp_path / "blocking-predict" / "after" / "report.md").is_file()
    entries = read_entries(tmp_path / "ops" / "audit.jsonl")
    assert [e["step"] for e in entries] == ["diagnosis", "fix", "verify"]
    assert entries[0]["root_cause"]["cause"] == "event-loop-blocking"
    assert entries[0]["fixes_available"] == [f"infermedic fix {service} --select SVC001"]
    assert entries[1]["mode"] == "apply-in-dev" and entries[1]["fixes"][0]["code"] == "SVC001"
    after_cause = entries[2]["root_cause"]
    assert after_cause is None or after_cause["cause"] != "event-loop-blocking"
