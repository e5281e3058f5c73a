"""The diagnose engine: planning from inputs, failures recorded not raised, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infermedic import diagnose as diagnose_module
from infermedic.diagnose import DiagnoseOptions, audit_log_entry, diagnose
from infermedic.diagnose.hypotheses import CheckKind, Status
from infermedic.diagnose.model import CheckStatus
from infermedic.diagnose.plan import Inputs
from infermedic.errors import TargetUnreachable
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Report, Severity
from infermedic.report import OutputFormat, render


def _finding(code: str, path: str | None = "app/main.py") -> Finding:
    return Finding(
        code=code,
        name=code.lower(),
        severity=Severity.HIGH,
        message=f"{code} seen",
        location=Location(path=path, line=42) if path else Location(endpoint="GET /health"),
        evidence=(Evidence(kind=EvidenceKind.SOURCE, action="app/main.py:42", observed="x"),),
        fix=f"fix {code}",
    )


@pytest.fixture
def fake_engines(monkeypatch: pytest.MonkeyPatch) -> dict[CheckKind, list[str]]:
    """Stand-ins for the engines (each has its own real tests); they record their calls."""
    calls: dict[CheckKind, list[str]] = {kind: [] for kind in CheckKind}

    def audit(check, inputs, settings, options, earlier):  # type: ignore[no-untyped-def]
        calls[CheckKind.AUDIT].append(str(inputs.repo))
        return Report(tool="audit", findings=(_finding("SVC001"),), rules_run=("SVC001",))

    def probe(check, inputs, settings, options, earlier):  # type: ignore[no-untyped-def]
        calls[CheckKind.PROBE].append(",".join(check.probe_parts))
        return Report(tool="probe", findings=(_finding("LIVE001", None),))

    def drift(check, inputs, settings, options, earlier):  # type: ignore[no-untyped-def]
        raise TargetUnreachable("data went away")

    monkeypatch.setitem(diagnose_module.RUNNERS, CheckKind.AUDIT, audit)
    monkeypatch.setitem(diagnose_module.RUNNERS, CheckKind.PROBE, probe)
    monkeypatch.setitem(diagnose_module.RUNNERS, CheckKind.DRIFT, drift)
    return calls


def test_static_and_live_evidence_name_the_root_cause(
    fake_engines: dict[CheckKind, list[str]], tmp_path: Path
) -> None:
    result = diagnose(
        "p99 latency spikes",
        Inputs(repo=tmp_path, url="http://127.0.0.1:9"),
        options=DiagnoseOptions(duration_s=1),
    )
    root = result.root_cause
    assert root is not None and root.cause.key == "event-loop-blocking"
    assert root.status is Status.CONFIRMED
    assert {f.code for f in root.findings} == {"SVC001", "LIVE001"}
    assert fake_engines[CheckKind.PROBE] == ["contract,load,sweep,blocking"]
    skipped = {c.kind: c for c in result.checks if c.status is CheckStatus.SKIPPED}
    assert "--pid" in skipped[CheckKind.PROFILE].reason
    assert CheckKind.DRIFT not in {c.kind for c in result.checks}  # no cause of spikes in data
    markdown = render(result.to_report(), OutputFormat.MARKDOWN)
    for heading in (
        "## Issue summary",
        "## Root-cause analysis",
        "### Infrastructure",
        "### Model",
        "### Data",
        "## Root cause",
        "## Solution",
        "## Prevention",
    ):
        assert heading in markdown
    assert "fix SVC001" in markdown and "app/main.py:42" in markdown


def test_a_failing_check_is_recorded_and_the_rest_goes_on(
    fake_engines: dict[CheckKind, list[str]], tmp_path: Path
) -> None:
    result = diagnose(
        "accuracy dropped",
        Inputs(repo=tmp_path, reference="ref.parquet", current="cur.parquet"),
    )
    drift = next(c for c in result.checks if c.kind is CheckKind.DRIFT)
    assert drift.status is CheckStatus.FAILED and "data went away" in drift.reason
    assert result.root_cause is None or result.root_cause.status is not Status.CONFIRMED
    entry = audit_log_entry(result)
    assert entry["symptom"] == "accuracy dropped"
    assert {c["check"]: c["status"] for c in entry["checks"]}["drift"] == "failed"
    json.dumps(entry)  # the audit log line is plain JSON


def test_no_finding_means_no_root_cause(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(diagnose_module.RUNNERS, CheckKind.AUDIT, lambda *a: Report(tool="audit"))
    result = diagnose("slow", Inputs(repo=tmp_path))
    assert result.root_cause is None
    assert all(h.status in (Status.REFUTED, Status.NOT_TESTED) for h in result.hypotheses)
    assert "No root cause found" in render(result.to_report(), OutputFormat.MARKDOWN)


def test_the_model_section_shows_the_version_and_stage_times_a_real_probe_measured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The incident's Model section reads the probe's real measurement keys: it once read
    `contract.model_version` and `probe.server_timing`, keys the probe never wrote, and was
    always empty. The probe writes `contract.model_versions` and `load.server_timing`."""
    import httpx
    from starlette.requests import Request
    from starlette.responses import Response

    from infermedic.probe import CheckName, ProbePlan, probe
    from tests.probe import fakes

    app = fakes.fastapi_app()

    @app.middleware("http")
    async def server_timing(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        response.headers["Server-Timing"] = "inference;dur=7.5"
        return response

    def real_probe(check, inputs, settings, options, earlier):  # type: ignore[no-untyped-def]
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        checks = frozenset({CheckName.CONTRACT, CheckName.ROBUSTNESS, CheckName.LOAD})
        plan = ProbePlan(checks=checks, rate=20, duration_s=1.0)
        return probe("http://svc.test", plan, transport=transport)

    monkeypatch.setitem(diagnose_module.RUNNERS, CheckKind.PROBE, real_probe)
    result = diagnose("predictions look wrong", Inputs(url="http://svc.test"))
    markdown = render(result.to_report(), OutputFormat.MARKDOWN)
    model_section = markdown.split("### Model", 1)[1].split("### Data", 1)[0]
    assert "| 3 |" in model_section  # the version the service answered with
    assert "| server stage `inference` mean | 7.5 ms |" in model_section
    infrastructure = markdown.split("### Infrastructure", 1)[1].split("### Model", 1)[0]
    assert "| p50 ms |" in infrastructure and "| 20 |" in infrastructure  # 20 requests
