"""A report written to a file still answers in the terminal: its headline, else its most
severe finding, one line on stderr before the `wrote ...` line."""

from __future__ import annotations

from pathlib import Path

import pytest

from infermedic.cli.output import emit_report
from infermedic.model import Finding, Location, Report, Severity
from infermedic.report import OutputFormat


def _finding(code: str, severity: Severity, message: str) -> Finding:
    return Finding(
        code=code,
        name="n",
        severity=severity,
        message=message,
        location=Location(path="app.py", line=3),
    )


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (Report(tool="drift", headline="3 of 25 columns drifted (age)"), "3 of 25 columns drifted"),
        (
            Report(
                tool="audit",
                findings=(
                    _finding("SVC010", Severity.LOW, "minor"),
                    _finding("SVC001", Severity.HIGH, "predict blocks\x1b[2J the loop"),
                ),
            ),
            "2 finding(s); the most severe: HIGH SVC001 predict blocks\\x1b[2J the loop",
        ),
        (Report(tool="audit", rules_run=("SVC001", "SVC002")), "No findings (2 rule(s) ran)."),
    ],
)
def test_the_answer_comes_before_the_file_name(
    report: Report, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    emit_report(report, fmt=OutputFormat.HTML, output=out, fail_on=Severity.HIGH)
    captured = capsys.readouterr()
    assert captured.out == ""
    first, second = captured.err.splitlines()
    assert first.startswith(expected) and "\x1b" not in first
    assert second == f"wrote html report to {out}"
