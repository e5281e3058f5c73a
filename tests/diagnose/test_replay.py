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
    """Model outputs outside the reference range are the predictions moving, not the inputs:
    the drift rules report them as DRIFT002 (not DRIFT007), so they do not explain away the
    training/serving skew it points at. The same measurements on an input column are input
    drift. (Recorded observations: tests/fixtures/drift/DRIFT002_out_of_range.json.)"""
    from dataclasses import replace

    from infermedic.diagnose.model import CheckRun, CheckStatus
    from infermedic.diagnose.replay import judge
    from infermedic.drift.compare import judge as judge_drift
    from infermedic.drift.observations import ColumnRole, DriftObservations
    from tests.drift.recorded import FIXTURES, observations_of

    recorded = observations_of(json.loads((FIXTURES / "DRIFT002_out_of_range.json").read_text()))

    def diagnosed(observations: DriftObservations) -> str | None:
        comparison = judge_drift(observations)
        report = Report(
            tool="drift",
            findings=comparison.findings,
            rules_run=comparison.rules_run,
            measurements=comparison.measurements,
        )
        run = CheckRun(kind=CheckKind.DRIFT, status=CheckStatus.RAN, command="drift", report=report)
        diagnosis = judge(
            "way more payments end up in manual review",
            [run],
            inputs={},
            started_at=None,
            duration_s=None,
        )
        root = diagnosis.root_cause
        return None if root is None else root.cause.key

    codes = {(f.code, f.location.column_name) for f in judge_drift(recorded).findings}
    assert codes == {("DRIFT002", "score")}
    assert diagnosed(recorded) == "preprocessing-skew"
    # the same finding on an input column is input drift
    as_input = replace(
        recorded,
        predictions=(),
        columns=tuple(replace(c, role=ColumnRole.FEATURE) for c in recorded.columns),
    )
    codes = {(f.code, f.location.column_name) for f in judge_drift(as_input).findings}
    assert codes == {("DRIFT007", "score")}
    assert diagnosed(as_input) == "input-drift"
