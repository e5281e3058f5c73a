"""The whole probe against in-process fakes (httpx.ASGITransport): contract, load, robustness."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from infermedic.errors import ConfigError, InputError, TargetUnreachable
from infermedic.model import EvidenceKind, Report
from infermedic.probe import CheckName, ProbePlan, probe
from infermedic.report import OutputFormat, render
from tests.probe import fakes

QUICK = frozenset({CheckName.CONTRACT, CheckName.ROBUSTNESS})


def asgi(app: Any) -> httpx.ASGITransport:
    # An exception in the app becomes a 500, as a real server answers.
    return httpx.ASGITransport(app=app, raise_app_exceptions=False)


def run(app: Any, **plan: Any) -> Report:
    plan.setdefault("checks", QUICK)
    return probe("http://svc.test", ProbePlan(**plan), transport=asgi(app))


def codes(report: Report) -> list[str]:
    return sorted(f.code for f in report.findings)


def test_healthy_service_has_no_findings_and_reports_its_contract() -> None:
    report = run(fakes.fastapi_app())
    assert codes(report) == []
    contract = report.measurements["contract"]
    assert contract["liveness"]["status"] == 200
    assert contract["prediction"]["sane_body"] is True
    assert {"source": "`model_version` in the prediction response", "version": "3"} in contract[
        "model_versions"
    ]
    table = next(t for t in report.tables if t.key == "robustness")
    verdicts = {row[0]: row[2] for row in table.rows}
    assert verdicts["NaN at `sepal_length`"] == "server error"  # FastAPI's own 500, a warning
    assert any(n.rule == "LIVE005" and "NaN" in n.message for n in report.notifications)
    assert {v for k, v in verdicts.items() if not k.startswith("NaN")} <= {"ok", "accepted"}
    assert verdicts["missing field `sepal_length`"] == "ok"


def test_server_error_on_bad_input_carries_the_requests() -> None:
    report = run(fakes.fragile_app(), input_body={"x": 1.5})
    finding = next(f for f in report.findings if f.code == "LIVE005")
    assert finding.location.endpoint == "POST /predict"
    requests = [e for e in finding.evidence if e.kind is EvidenceKind.REQUEST]
    assert any(e.action.startswith("POST http://svc.test/predict") for e in requests)
    assert all(e.observed.startswith("500 Internal Server Error") for e in requests)
    # each failing case names its field and carries the exact body it sent
    bodies = [e.values["request_body"] for e in finding.evidence if "request_body" in e.values]
    assert {"y": 1.5} not in bodies and {} in bodies  # `x` left out: the body without it
    assert "field `x`" in finding.message
    # NaN is not a JSON number: its 500 is a warning, never evidence of missing validation
    assert not any("NaN" in e.action for e in finding.evidence)
    assert any(n.rule == "LIVE005" and "NaN" in n.message for n in report.notifications)
    assert "LIVE010" in codes(report)  # no readiness route, no /metrics


def test_expected_version_differs() -> None:
    report = run(fakes.fastapi_app(version="3"), expect_version="4")
    finding = next(f for f in report.findings if f.code == "LIVE007")
    assert "expected '4'" in finding.message
    assert "LIVE007" not in codes(run(fakes.fastapi_app(version="3"), expect_version="3"))


def test_version_sources_disagree() -> None:
    report = run(fakes.fastapi_app(version="4"))  # the metrics info label says 3
    finding = next(f for f in report.findings if f.code == "LIVE007")
    assert "disagree" in finding.message


def test_auth_enforced_passes_and_secret_never_appears() -> None:
    secret = "s3cret-key-123"
    report = run(fakes.fastapi_app(api_key=secret), api_key=secret)
    assert "LIVE009" not in codes(report)
    assert report.measurements["contract"]["unauthenticated_prediction"]["status"] == 401
    for fmt in (OutputFormat.JSON, OutputFormat.SARIF):
        assert secret not in render(report, fmt)


def test_auth_not_enforced_is_found_and_an_echoed_secret_is_redacted() -> None:
    secret = "tok-abcdef-987"
    report = run(fakes.fastapi_app(echo_key=True), api_key=secret, bearer="bearer-xyz-555")
    assert "LIVE009" in codes(report)
    text = render(report, OutputFormat.JSON)
    assert secret not in text and "bearer-xyz-555" not in text
    assert "***" in text  # the server echoed the key into its body; the report masks it


def test_url_credentials_are_redacted() -> None:
    report = probe(
        "http://user:pa55word-q@svc.test",
        ProbePlan(checks=QUICK),
        transport=asgi(fakes.fastapi_app()),
    )
    assert "pa55word-q" not in json.dumps(render(report, OutputFormat.JSON))


def test_open_loop_load_in_process_reports_percentiles_and_windows() -> None:
    report = run(fakes.fastapi_app(), checks=frozenset({CheckName.LOAD}), rate=40, duration_s=1.0)
    load = report.measurements["load"]
    assert load["requests"] == 40
    assert load["statuses"] == {"200": 40}
    assert load["latency"]["count"] == 40
    assert load["latency"]["p50_ms"] <= load["latency"]["p99_ms"] <= load["latency"]["max_ms"]
    assert load["latency_over_time"][0]["requests"] == 40
    assert any(p.key == "latency_over_time" for p in report.plots)
    # 40 requests are too few for p99: said so, not judged
    assert any(n.rule == "LIVE004" for n in report.notifications)


def test_missing_body_names_the_flag() -> None:
    with pytest.raises(InputError) as caught:
        run(fakes.mlflow_app())
    assert "--input" in (caught.value.hint or "")


def test_unreachable_target() -> None:
    with pytest.raises(TargetUnreachable):
        probe("http://127.0.0.1:9", ProbePlan(checks=QUICK, timeout_s=2.0))


def test_caps_need_the_flag() -> None:
    with pytest.raises(ConfigError) as caught:
        ProbePlan(rate=5000).validated()
    assert "--allow-high-load" in (caught.value.hint or "")
    assert ProbePlan(rate=5000, allow_high_load=True).validated().rate == 5000
