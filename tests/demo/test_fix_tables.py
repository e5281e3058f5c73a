"""The before/after tables of `demo --fix`, rendered from recorded results (no server)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from infermedic.demo.fixing import FixResult, Load, RegressionRun, comparison_table, fixed_cell
from infermedic.demo.runner import ScenarioOutcome, _index_html, tour_table
from infermedic.demo.scenarios import get_scenario

# measured on a busy 2-core host (blocking-predict, `infermedic demo blocking-predict --fix`)
BEFORE = Load(requests=240, answered=240, errors=0, p50_ms=312.0, p99_ms=846.0, throughput_rps=22.1)
AFTER = Load(requests=240, answered=240, errors=0, p50_ms=233.0, p99_ms=661.0, throughput_rps=30.1)
FIXED = FixResult(
    cause="event-loop-blocking",
    cause_title="Blocking work on the event loop",
    after_cause=None,
    after_title="no root cause",
    after_supported=(),
    applied=("SVC001 app/main.py: in `predict`, `score_customer(...)` now runs in a thread",),
    refused=(),
    before=BEFORE,
    after=AFTER,
    tests=RegressionRun(passed=2, failed=0, summary="2 passed in 23.24s"),
)


def _text(table: Table) -> str:
    console = Console(record=True, width=220, no_color=True)
    console.print(table)
    return console.export_text()


def _outcome(fixed: FixResult | None) -> ScenarioOutcome:
    return ScenarioOutcome(
        scenario=get_scenario("blocking-predict"),
        expected_cause="event-loop-blocking",
        found_cause="event-loop-blocking",
        found_title="Blocking work on the event loop",
        status="confirmed",
        sources=("audit", "probe"),
        seconds=190.0,
        report_html=None,
        fixed=fixed,
    )


def test_comparison_shows_cause_gone_latency_throughput_and_tests_side_by_side() -> None:
    text = _text(comparison_table("blocking-predict", FIXED))
    lines = text.splitlines()
    assert "before" in lines[2] and "after" in lines[2]
    row = next(line for line in lines if "p99" in line)
    assert row.index("846 ms") < row.index("661 ms")
    assert "22.1/s" in text and "30.1/s" in text
    assert "no root cause (event-loop-blocking gone)" in text
    assert "2 passed in 23.24s" in text and "SVC001 app/main.py" in text
    assert "240 requests, 8 at a time" in text


def test_a_cause_still_there_is_said_and_the_tour_cell_says_no() -> None:
    kept = FixResult(**{**_fields(FIXED), "after_supported": ("event-loop-blocking",)})
    assert not kept.root_cause_gone
    assert "event-loop-blocking still there" in _text(comparison_table("x", kept))
    assert fixed_cell(kept).startswith("NO: SVC001")
    failing = FixResult(
        **{**_fields(FIXED), "tests": RegressionRun(passed=1, failed=1, summary="x")}
    )
    assert fixed_cell(failing).startswith("NO")
    assert not _outcome(failing).fixed_ok and _outcome(FIXED).fixed_ok


def test_tour_gains_a_fixed_column_only_with_fix() -> None:
    plain = _text(tour_table([_outcome(None)], fix=False))
    assert "fixed" not in plain.splitlines()[2]
    fixed = _text(tour_table([_outcome(FIXED)], fix=True))
    assert "fixed" in fixed.splitlines()[2]
    assert fixed_cell(FIXED) == "yes: SVC001; p99 846 ms → 661 ms; tests 2 passed in 23.24s"
    assert "yes: SVC001" in fixed
    unfixed = FixResult(
        **{**_fields(FIXED), "applied": (), "note": "no mechanical fix for this root cause"}
    )
    assert fixed_cell(unfixed) == "no: no mechanical fix for this root cause"
    assert fixed_cell(None) == "-"


def _fields(result: FixResult) -> dict[str, object]:
    return {name: getattr(result, name) for name in result.__slots__}  # type: ignore[attr-defined]


def test_the_tour_index_page_gains_the_fixed_column_too() -> None:
    assert "<th>fixed</th>" not in _index_html([_outcome(None)])
    page = _index_html([_outcome(FIXED)])
    assert "<th>fixed</th>" in page
    assert "<td>yes: SVC001; p99 846 ms → 661 ms; tests 2 passed in 23.24s</td>" in page


def test_the_first_prediction_after_ready_is_shown_when_measured() -> None:
    """cold-start, measured live (load average 13-14): the probe's first prediction."""
    from dataclasses import replace

    from infermedic.demo.fixing import first_prediction_ms
    from infermedic.diagnose.hypotheses import CheckKind
    from infermedic.diagnose.model import CheckRun, CheckStatus
    from infermedic.model import Report

    assert "first prediction" not in _text(comparison_table("blocking-predict", FIXED))
    cold = replace(FIXED, first_before_ms=3387.542, first_after_ms=201.332)
    row = next(
        line
        for line in _text(comparison_table("cold-start", cold)).splitlines()
        if "first prediction after ready" in line
    )
    assert row.index("3388 ms") < row.index("201 ms")
    assert fixed_cell(cold).startswith("yes: SVC001; first prediction 3388 ms → 201 ms; p99 ")

    probe = Report(
        tool="probe",
        findings=(),
        measurements={"contract": {"prediction": {"status": 200, "elapsed_ms": 201.332}}},
    )
    checks = (
        CheckRun(kind=CheckKind.AUDIT, status=CheckStatus.RAN, command="audit"),
        CheckRun(kind=CheckKind.PROBE, status=CheckStatus.RAN, command="probe", report=probe),
    )

    class Ran:  # only `checks` is read
        def __init__(self, runs: tuple[CheckRun, ...]) -> None:
            self.checks = runs

    assert first_prediction_ms(Ran(checks)) == 201.332  # type: ignore[arg-type]
    assert first_prediction_ms(Ran(checks[:1])) is None  # type: ignore[arg-type]
