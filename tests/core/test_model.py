"""The domain model: severity order and parsing, fingerprints that ignore lines, sorting."""

from __future__ import annotations

import pytest

from infermedic.model import Finding, Location, Report, Severity


def make_finding(line: int, severity: Severity = Severity.HIGH, message: str = "m") -> Finding:
    return Finding(
        code="SVC001",
        name="blocking-model-call-in-async-route",
        severity=severity,
        message=message,
        location=Location(path="app/main.py", line=line),
    )


def test_severity_is_ordered_and_parsed_from_text() -> None:
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert Severity.parse(" High ") is Severity.HIGH
    with pytest.raises(ValueError, match="choose from info, low"):
        Severity.parse("urgent")


def test_fingerprint_survives_a_line_move_but_not_a_new_message() -> None:
    assert make_finding(10).fingerprint == make_finding(42).fingerprint
    assert make_finding(10).fingerprint != make_finding(10, message="other").fingerprint


def test_report_sorts_worst_first_then_by_place() -> None:
    low = make_finding(1, Severity.LOW)
    high_late = make_finding(20)
    high_early = make_finding(3)
    report = Report(tool="audit", findings=(low, high_late, high_early)).sorted()
    assert [f.location.line for f in report.findings] == [3, 20, 1]
    assert report.worst() is Severity.HIGH
    assert Report(tool="audit").worst() is None


@pytest.mark.parametrize(
    ("location", "text"),
    [
        (Location(path="a.py", line=3, column=5), "a.py:3:5"),
        (
            Location(endpoint="POST /predict", url="http://127.0.0.1:1"),
            "POST /predict http://127.0.0.1:1",
        ),
        (Location(dataset="cur.parquet", column_name="age"), "cur.parquet[age]"),
        (Location(), "-"),
    ],
)
def test_location_describes_itself(location: Location, text: str) -> None:
    assert location.describe() == text
