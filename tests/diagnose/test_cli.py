"""`infermedic diagnose` as a user runs it: the report, the audit log, the exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from infermedic.demo.repository import write_scenario
from infermedic.diagnose.timeline import read_entries
from tests.probe.servers import serve


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


def test_a_route_given_as_a_url_is_refused_before_anything_runs(tmp_path: Path) -> None:
    for option, value in (
        ("--health-path", "//elsewhere.test/up"),
        ("--predict-path", "http://elsewhere.test/x"),
    ):
        result = run_cli(
            "diagnose", "p99 spikes", "--url", "http://127.0.0.1:9", option, value, cwd=tmp_path
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (
            f"error: {option} must be a path on the target "
            f"(like {'/healthz' if option == '--health-path' else '/predict'}), got {value!r}"
        )
        assert not (tmp_path / "ops").exists()  # nothing ran, nothing was logged


@pytest.mark.server
def test_diagnose_times_the_liveness_route_it_is_given(tmp_path: Path) -> None:
    """`/ops/up` is no route probe would guess (without `--health-path` it times a path no
    route holds): given, the blocking check times it while predictions load the service, and
    the report's command to run the check again says so."""
    with serve("tests.diagnose.alive_app:app", ready_path="/ops/up") as served:
        before = httpx.get(served.url + "/ops/hits").json()["up"]
        result = run_cli(
            "diagnose",
            "p99 latency spikes under load",
            "--url",
            served.url,
            "--predict-path",
            "/score",
            "--health-path",
            "/ops/up",
            "--input",
            str(_body(tmp_path)),
            "--duration",
            "3",
            "--rate",
            "10",
            "--format",
            "json",
            "--output",
            "incident.json",
            cwd=tmp_path,
        )
        timed = httpx.get(served.url + "/ops/hits").json()["up"] - before
    assert result.returncode in (0, 1), result.stderr
    assert timed >= 5, f"the blocking check sent {timed} request(s) to /ops/up"
    report = (tmp_path / "incident.json").read_text()
    assert "--health-path /ops/up" in report  # the check as a command to run again


def _body(tmp_path: Path) -> Path:
    path = tmp_path / "body.json"
    path.write_text('{"x": [1.0, 2.0, 3.0]}')
    return path
