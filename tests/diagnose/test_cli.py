"""`infermedic diagnose` as a user runs it: the report, the audit log, the exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infermedic.demo.repository import write_scenario
from infermedic.diagnose.timeline import read_entries


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infermedic", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def test_static_diagnosis_writes_the_report_and_the_audit_log(tmp_path: Path) -> None:
    repo = write_scenario("blocking-predict", tmp_path / "repo")
    before = {p.relative_to(repo): p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    result = run_cli(
        "diagnose",
        "p99 latency spikes",
        "--repo",
        str(repo),
        "--output",
        "incident.md",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr  # a high finding is at or above --fail-on
    report = (tmp_path / "incident.md").read_text()
    assert "## Root cause" in report and "SVC001" in report
    assert "static SVC001; not measured (needs --url URL" in report
    assert "give --url URL to measure the running service" in report
    entries = read_entries(tmp_path / "ops" / "audit.jsonl")
    assert entries[-1]["symptom"] == "p99 latency spikes"
    assert entries[-1]["root_cause"]["cause"] == "event-loop-blocking"
    assert any("--url" in step for step in entries[-1]["plan"])
    after = {p.relative_to(repo): p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    assert after == before  # read-only: the repository is untouched


def test_diagnose_without_inputs_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("diagnose", "slow", cwd=tmp_path)
    assert result.returncode == 2
    assert "--repo" in result.stderr and not (tmp_path / "ops").exists()
