"""The diagnose report's HTML: Markdown rendered (no literal backticks), raw HTML escaped,
and one immediate-fix list without near-duplicates. Built from recorded incidents."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from infermedic.diagnose import replay
from infermedic.diagnose.model import immediate_fixes
from infermedic.report import OutputFormat, render

BUSY = Path(__file__).resolve().parents[1] / "fixtures" / "incidents" / "busy_host"


@pytest.mark.parametrize("scenario", ["blocking-predict", "input-drift", "no-validation"])
def test_markdown_is_rendered_not_shown(scenario: str) -> None:
    page = render(replay(BUSY / f"{scenario}.json").to_report(), OutputFormat.HTML)
    visible = re.sub(r"<[^>]+>", "", page.split("<style>")[0] + page.split("</style>")[1])
    assert "`" not in visible
    assert "<code>" in page


def test_raw_html_in_a_message_is_escaped() -> None:
    diagnosis = replay(BUSY / "blocking-predict.json")
    report = diagnosis.to_report()
    hostile = dataclasses.replace(
        report.findings[0], message="`x` <script>alert(1)</script> **bold**"
    )
    page = render(dataclasses.replace(report, findings=(hostile,)), OutputFormat.HTML)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<code>x</code>" in page and "<strong>bold</strong>" in page


def test_a_located_static_fix_replaces_the_general_advice_for_the_same_cause() -> None:
    root = replay(BUSY / "blocking-predict.json").root_cause
    assert root is not None
    codes = {f.code for f in root.findings if f.fix}
    assert {"SVC001", "LIVE001"} <= codes  # three findings carry a fix ...
    fixes = immediate_fixes(root)
    assert len(fixes) == 1 and "score_customer" in fixes[0]  # ... one says where


def test_without_a_static_finding_near_duplicate_advice_is_said_once() -> None:
    root = replay(BUSY / "blocking-predict.json").root_cause
    assert root is not None
    measured_only = dataclasses.replace(
        root, findings=tuple(f for f in root.findings if f.code in ("LIVE001", "PROF013"))
    )
    assert len({f.fix for f in measured_only.findings}) == 2  # worded differently
    assert len(immediate_fixes(measured_only)) == 1


def test_distinct_fixes_for_distinct_findings_all_stay() -> None:
    root = replay(BUSY / "input-drift.json").root_cause
    assert root is not None
    assert len(immediate_fixes(root)) == len({f.fix for f in root.findings if f.fix}) == 3
