"""Every format renders the same report; SARIF validates against the official 2.1.0 schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from infermedic.model import (
    Evidence,
    EvidenceKind,
    Finding,
    Location,
    Notification,
    NotificationLevel,
    Plot,
    Report,
    Series,
    Severity,
    Table,
)
from infermedic.report import OutputFormat, render
from infermedic.report.jsonfmt import to_dict
from infermedic.report.sarif import to_sarif
from infermedic.rules import Registry
from tests.core.test_registry import GoodRule

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


def sample_report() -> Report:
    source = Finding(
        code="TST001",
        name="test-rule",
        severity=Severity.HIGH,
        message="`model.predict_proba` called in `async def predict`",
        location=Location(path="app/main.py", line=42, column=5),
        evidence=(
            Evidence(kind=EvidenceKind.SOURCE, action="app/main.py:42", observed="x = m(x)"),
        ),
        risk="blocks the event loop",
        fix="await run_in_threadpool(model.predict_proba, X)",
        checklist=("D-03",),
    )
    live = Finding(
        code="TST001",
        name="test-rule",
        severity=Severity.LOW,
        message="p99 | 812 ms",
        location=Location(endpoint="POST /predict", url="http://127.0.0.1:9"),
        evidence=(
            Evidence(
                kind=EvidenceKind.MEASUREMENT,
                action="POST /predict at 20 req/s for 10 s",
                observed="p99 812 ms",
                values={"p99_ms": 812.0, "nan": float("nan")},
            ),
        ),
    )
    return Report(
        tool="audit",
        findings=(live, source),
        notifications=(
            Notification(level=NotificationLevel.WARNING, message="skipped", path="bin.dat"),
            Notification(level=NotificationLevel.ERROR, message="rule crashed", rule="TST001"),
        ),
        rules_run=("TST001",),
        inputs=("repo/",),
        tables=(Table(title="Latency", columns=("step", "p99 ms"), rows=((1, 3.25), (2, None))),),
        plots=(
            Plot(
                title="latency over time",
                kind="line",
                x_label="s",
                y_label="ms",
                series=(Series(name="p99", x=(0, 1, 2), y=(1.0, 5.0, float("nan"))),),
            ),
            Plot(
                title="histogram",
                kind="bar",
                x_label="bin",
                y_label="share",
                series=(Series(name="ref", x=("a", "b"), y=(0.4, 0.6)),),
            ),
        ),
        measurements={"latency": {"p50_ms": 1.5, "inf": float("inf")}},
    )


REGISTRY = Registry((GoodRule,))


def test_json_contract_has_the_promised_fields() -> None:
    data = json.loads(render(sample_report(), OutputFormat.JSON))
    assert data["schema_version"] == 1
    assert data["tool"]["version"]
    first = data["findings"][0]
    assert set(first) >= {
        "code",
        "name",
        "severity",
        "message",
        "location",
        "checklist",
        "evidence",
        "fix",
    }
    assert set(first["location"]) >= {"path", "line", "column"}
    assert first["severity"] == "high"  # sorted worst first
    assert data["measurements"]["latency"]["inf"] is None  # JSON has no infinities
    assert data["findings"][1]["evidence"][0]["values"]["nan"] is None
    assert [n["level"] for n in data["notifications"]] == ["warning", "error"]


def test_sarif_validates_and_carries_what_code_scanning_needs() -> None:
    sarif = to_sarif(sample_report(), REGISTRY)
    jsonschema.validate(sarif, SCHEMA)
    run = sarif["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["TST001"]
    results = run["results"]
    assert results[0]["level"] == "error" and results[1]["level"] == "note"
    assert all(r["partialFingerprints"]["infermedic/v1"] for r in results)
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 42, "startColumn": 5}
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["warning", "error"]
    assert run["invocations"][0]["executionSuccessful"] is False


def test_markdown_keeps_tables_intact() -> None:
    text = render(sample_report(), OutputFormat.MARKDOWN)
    assert "| high | `TST001` test-rule | app/main.py:42:5 |" in text
    assert "p99 \\| 812 ms" in text  # a pipe in a message does not break the table
    assert "## Latency" in text and "| 2 | - |" in text


def test_terminal_is_plain_without_a_tty_and_coloured_with_one() -> None:
    plain = render(sample_report(), OutputFormat.TERMINAL, color=False)
    assert "\x1b[" not in plain
    assert "TST001" in plain and "fix:  await run_in_threadpool" in plain
    coloured = render(sample_report(), OutputFormat.TERMINAL, color=True)
    assert "\x1b[" in coloured


def test_html_is_self_contained_and_draws_every_plot() -> None:
    page = render(sample_report(), OutputFormat.HTML)
    assert page.count("<svg") == 2
    assert "<script" not in page
    external = re.findall(r"(?:src|href)=\"(https?:)?//", page)
    assert external == []
    assert "&lt;" not in to_dict(sample_report())["findings"][0]["message"]
    assert "run_in_threadpool" in page


def test_html_escapes_untrusted_text() -> None:
    hostile = Report(
        tool="probe",
        findings=(
            Finding(
                code="TST001",
                name="test-rule",
                severity=Severity.LOW,
                message="<script>alert(1)</script>",
                location=Location(path="<img src=x>"),
            ),
        ),
    )
    page = render(hostile, OutputFormat.HTML)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_an_empty_report_renders_in_every_format(fmt: OutputFormat) -> None:
    text = render(Report(tool="audit"), fmt)
    assert text.strip()
