"""Saved incidents replay to the same report: the observations round-trip through JSON and
the judge re-derives the same verdicts, without touching any service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infermedic import diagnose as diagnose_module
from infermedic.demo.repository import write_scenario
from infermedic.diagnose import diagnose, replay, save_observations
from infermedic.diagnose.hypotheses import CheckKind, Status
from infermedic.diagnose.plan import Inputs
from infermedic.errors import InputError, TargetUnreachable
from infermedic.model import (
    Effect,
    Evidence,
    EvidenceKind,
    Finding,
    Location,
    Notification,
    NotificationLevel,
    Report,
    Severity,
)
from infermedic.report import OutputFormat, render


def _finding(code: str, effect: Effect | None = None) -> Finding:
    return Finding(
        code=code,
        name=code.lower(),
        severity=Severity.HIGH,
        message=f"{code} measured",
        location=Location(endpoint="POST /predict", url="http://127.0.0.1:9"),
        evidence=(
            Evidence(
                kind=EvidenceKind.MEASUREMENT,
                action="GET /health at 50/s",
                observed="p99 3.1 → 95 ms",
                values={"p99_ms": 95.0, "nan": float("nan")},
            ),
        ),
        fix="run the model off the loop",
        effect=effect,
    )


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engines that return recorded reports (each engine has its own real tests)."""

    def probe(check, inputs, settings, options, earlier):  # type: ignore[no-untyped-def]
        effect = Effect(statistic="canary/predict median", value=0.7, threshold=0.5, strong=1.0)
        return Report(
            tool="probe",
            findings=(_finding("LIVE001", effect), _finding("LIVE004")),
            notifications=(
                Notification(
                    level=NotificationLevel.NOTE,
                    rule="LIVE008",
                    message="LIVE008 not judged: 2 memory samples",
                    underpowered=True,
                ),
            ),
            rules_run=("LIVE001", "LIVE002", "LIVE004"),
            measurements={"load": {"latency": {"p50_ms": 4.2, "p99_ms": 95.0}}},
        )

    def audit(check, inputs, settings, options, earlier):  # type: ignore[no-untyped-def]
        return Report(tool="audit", findings=(), rules_run=("SVC001",))

    def drift(check, inputs, settings, options, earlier):  # type: ignore[no-untyped-def]
        raise TargetUnreachable("data went away")

    monkeypatch.setitem(diagnose_module.RUNNERS, CheckKind.PROBE, probe)
    monkeypatch.setitem(diagnose_module.RUNNERS, CheckKind.AUDIT, audit)
    monkeypatch.setitem(diagnose_module.RUNNERS, CheckKind.DRIFT, drift)


def test_a_saved_incident_replays_to_the_same_report(recorded: None, tmp_path: Path) -> None:
    original = diagnose(
        "p99 latency spikes and accuracy dropped",
        Inputs(repo=tmp_path, url="http://user:secret@127.0.0.1:9", reference="r", current="c"),
    )
    blocking = next(h for h in original.hypotheses if h.cause.key == "event-loop-blocking")
    assert blocking.status is Status.SUSPECTED  # one small timing effect, no second source
    saved = save_observations(original, tmp_path / "incident.observations.json")
    assert "secret" not in saved.read_text()
    again = replay(saved)
    assert again.summary() == original.summary()
    for fmt in (OutputFormat.MARKDOWN, OutputFormat.JSON):
        assert render(again.to_report(), fmt) == render(original.to_report(), fmt)


def test_a_damaged_incident_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "observations.json"
    broken.write_text('{"schema_version": 1, "checks": [{"kind": "nope"}]}')
    with pytest.raises(InputError, match="damaged"):
        replay(broken)
    broken.write_text("not json")
    with pytest.raises(InputError, match="not a saved incident"):
        replay(tmp_path)


def test_cli_keeps_observations_beside_the_report_and_replays_them(tmp_path: Path) -> None:
    repo = write_scenario("blocking-predict", tmp_path / "repo")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "infermedic", "diagnose", *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path,
        )

    first = run("p99 latency spikes", "--repo", str(repo), "--output", "incident.md")
    assert first.returncode == 1, first.stderr
    kept = tmp_path / "incident.observations.json"
    assert json.loads(kept.read_text())["schema_version"] == 1
    second = run("--replay", str(kept), "--output", "replayed.md")
    assert second.returncode == 1, second.stderr
    original = (tmp_path / "incident.md").read_text()
    assert (tmp_path / "replayed.md").read_text() == original
    bad = run("--replay", str(tmp_path / "incident.md"))
    assert bad.returncode == 2 and "not a saved incident" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_range_finding_on_the_prediction_column_is_a_prediction_shift() -> None:
    """DRIFT007 on the model's output is the predictions moving, not the inputs: it must not
    explain away the training/serving skew that DRIFT002 points at."""
    from infermedic.diagnose.model import CheckRun, CheckStatus
    from infermedic.diagnose.replay import judge

    def on(code: str, column: str) -> Finding:
        return Finding(
            code=code,
            name=code.lower(),
            severity=Severity.MEDIUM,
            message=f"{code} on {column}",
            location=Location(dataset="current.jsonl", column_name=column),
        )

    drift = Report(
        tool="drift",
        findings=(on("DRIFT002", "review_score"), on("DRIFT007", "review_score")),
        rules_run=("DRIFT001", "DRIFT002", "DRIFT007"),
        measurements={"roles": {"predictions": ["review_score"], "targets": []}},
    )
    run = CheckRun(kind=CheckKind.DRIFT, status=CheckStatus.RAN, command="drift", report=drift)
    diagnosis = judge(
        "way more payments end up in manual review",
        [run],
        inputs={},
        started_at=None,
        duration_s=None,
    )
    root = diagnosis.root_cause
    assert root is not None and root.cause.key == "preprocessing-skew"
    # the same finding on an input column is input drift
    moved = Report(
        tool="drift",
        findings=(on("DRIFT002", "review_score"), on("DRIFT007", "amount")),
        rules_run=("DRIFT001", "DRIFT002", "DRIFT007"),
        measurements={"roles": {"predictions": ["review_score"], "targets": []}},
    )
    again = judge(
        "way more payments end up in manual review",
        [CheckRun(kind=CheckKind.DRIFT, status=CheckStatus.RAN, command="drift", report=moved)],
        inputs={},
        started_at=None,
        duration_s=None,
    )
    assert again.root_cause is not None and again.root_cause.cause.key == "input-drift"
