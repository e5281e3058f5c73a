"""What `demo --fix` tries and says for each kind of root cause, on recorded findings (no
server): offered fixes; a static cause whose fixer refused in the dry run (tried again so
the reason shows); a static cause no fixer changes; a cause no code pattern shows; no root
cause at all. Nothing is written to the repository when there is nothing to fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from infermedic.demo.fixing import (
    FixResult,
    Load,
    RegressionRun,
    comparison_table,
    fix_and_verify,
    fix_candidates,
    fixed_cell,
    measured_codes,
    unfixed_text,
    why_unfixed,
)
from infermedic.demo.scenarios import get_scenario
from infermedic.diagnose.causes import CAUSES
from infermedic.diagnose.hypotheses import CheckKind, Status, evaluate
from infermedic.diagnose.model import CheckRun, CheckStatus, Diagnosis, FixOffer
from infermedic.diagnose.router import Category, route
from infermedic.model import Finding, Location, Report, Severity


def _finding(code: str) -> Finding:
    return Finding(
        code=code,
        name=code.lower(),
        severity=Severity.HIGH,
        message=f"{code} seen",
        location=Location(path="app/main.py", line=3),
    )


def _diagnosis(
    symptom: str,
    categories: Sequence[Category],
    found: Mapping[CheckKind, Sequence[str]],
    fixes: tuple[FixOffer, ...] = (),
) -> Diagnosis:
    findings = {kind: [_finding(code) for code in codes] for kind, codes in found.items()}
    hypotheses = evaluate(categories, findings, list(found) or [CheckKind.AUDIT])
    return Diagnosis(route=route(symptom), checks=(), hypotheses=tuple(hypotheses), fixes=fixes)


def _long_term_fix(key: str) -> str:
    return next(c.long_term_fix for c in CAUSES if c.key == key)


def test_offered_fixes_are_what_demo_fix_applies() -> None:
    offer = FixOffer(code="SVC001", finding="app/main.py:3", summary="s", command="c")
    diagnosis = _diagnosis(
        "p99 spikes", [Category.SPIKES], {CheckKind.AUDIT: ["SVC001"]}, fixes=(offer,)
    )
    assert fix_candidates(diagnosis) == ("SVC001",)


def test_a_fix_refused_in_the_dry_run_is_tried_again_so_its_reason_shows() -> None:
    diagnosis = _diagnosis("explain is slow", [Category.SLOW], {CheckKind.AUDIT: ["XPL001"]})
    assert diagnosis.root_cause is not None
    assert diagnosis.root_cause.cause.key == "explainer-per-request"
    assert fix_candidates(diagnosis) == ("XPL001",)


def test_a_static_cause_without_a_fixer_says_so_and_what_to_do() -> None:
    diagnosis = _diagnosis(
        "the offline metric looked great but accuracy dropped in production",
        [Category.ACCURACY],
        {CheckKind.AUDIT: ["MON004"]},
    )
    assert diagnosis.root_cause is not None
    assert diagnosis.root_cause.cause.key == "leaky-offline-evaluation"
    assert fix_candidates(diagnosis) == ()
    note, advice = why_unfixed(diagnosis)
    assert note == "no mechanical fix for leaky-offline-evaluation (MON004 is in the code)"
    assert advice == _long_term_fix("leaky-offline-evaluation")


def test_an_unpinned_model_uri_is_tried_by_the_svc007_fix() -> None:
    diagnosis = _diagnosis(
        "predictions changed although we did not deploy",
        [Category.WRONG],
        {CheckKind.AUDIT: ["SVC007"]},
    )
    assert fix_candidates(diagnosis) == ("SVC007",)


def test_a_cold_start_with_a_lazy_load_in_the_code_is_tried_by_the_svc011_fix() -> None:
    diagnosis = _diagnosis(
        "the first requests after every deploy are very slow",
        [Category.SPIKES],
        {CheckKind.AUDIT: ["SVC011"], CheckKind.PROBE: ["LIVE003"]},
    )
    assert diagnosis.root_cause is not None
    assert diagnosis.root_cause.cause.key == "cold-start"
    assert diagnosis.root_cause.status is Status.CONFIRMED
    assert fix_candidates(diagnosis) == ("SVC011",)


def test_missing_validation_is_tried_by_the_svc006_fix() -> None:
    diagnosis = _diagnosis(
        "intermittent 500 errors",
        [Category.FAILURES],
        {CheckKind.AUDIT: ["SVC006"], CheckKind.PROBE: ["LIVE005"]},
    )
    assert fix_candidates(diagnosis) == ("SVC006",)


def test_a_cause_no_code_pattern_shows_has_nothing_to_fix_mechanically() -> None:
    diagnosis = _diagnosis(
        "throughput never goes up",
        [Category.SLOW],
        {CheckKind.PROBE: ["LIVE002"], CheckKind.PROFILE: ["PROF014"]},
    )
    assert diagnosis.root_cause is not None
    assert fix_candidates(diagnosis) == ()
    note, advice = why_unfixed(diagnosis)
    assert note == (
        "nothing to fix mechanically: the audit finds no code pattern behind "
        "serialized-inference (measured: LIVE002, PROF014)"
    )
    assert advice == _long_term_fix("serialized-inference")


def test_nothing_to_fix_writes_nothing_and_the_tour_cell_is_an_answer(tmp_path: Path) -> None:
    healthy = _diagnosis("routine check", [Category.SLOW], {})
    assert healthy.root_cause is None and fix_candidates(healthy) == ()
    absent = tmp_path / "never-created"
    result = fix_and_verify(
        get_scenario("healthy"),
        absent,
        healthy,
        None,
        directory=tmp_path / "reports",
        audit_log=tmp_path / "ops" / "audit.jsonl",
        say=lambda _message: None,
        duration_s=1.0,
    )
    assert not absent.exists() and not (tmp_path / "ops").exists()
    assert not result.applied and result.after is None and result.tests is None
    assert fixed_cell(result) == "nothing to fix: no root cause"
    assert unfixed_text("healthy", result) == "healthy: nothing to fix: no root cause"


def test_an_unfixed_cause_prints_the_refusals_and_what_to_do() -> None:
    result = FixResult(
        cause="explainer-per-request",
        cause_title="Explainer built per request",
        after_cause="explainer-per-request",
        after_title="Explainer built per request",
        after_supported=("explainer-per-request",),
        applied=(),
        refused=("XPL001: the call depends on values of the request or route (rows)",),
        before=None,
        after=None,
        tests=None,
        note="every fix was refused",
        advice="Build the explainer once at start-up.",
    )
    assert fixed_cell(result) == "no: every fix was refused"
    assert unfixed_text("x", result).splitlines() == [
        "x: every fix was refused",
        "  refused XPL001: the call depends on values of the request or route (rows)",
        "  what to do: Build the explainer once at start-up.",
    ]


def test_the_load_plan_goes_to_the_request_the_fault_is_on() -> None:
    assert get_scenario("explainer-per-request").fault_request == "/predict?explain=true"
    assert get_scenario("blocking-predict").fault_request is None
    load = Load(requests=9, answered=9, errors=0, p50_ms=1.0, p99_ms=2.0, throughput_rps=3.0)
    result = FixResult(
        cause="explainer-per-request",
        cause_title="Explainer built per request",
        after_cause=None,
        after_title="no root cause",
        after_supported=(),
        applied=("XPL001 app/main.py: built once",),
        refused=(),
        before=load,
        after=replace(load, p99_ms=1.0),
        tests=RegressionRun(passed=1, failed=0, summary="1 passed"),
        request="/predict?explain=true",
    )
    console = Console(record=True, width=200, no_color=True)
    console.print(comparison_table("explainer-per-request", result))
    assert "8 at a time, POST /predict?explain=true" in console.export_text()


def _checked(kind: CheckKind, *codes: str) -> CheckRun:
    return CheckRun(
        kind=kind,
        status=CheckStatus.RAN,
        command=f"infermedic {kind.value}",
        report=Report(tool=kind.value, findings=tuple(_finding(c) for c in codes)),
    )


def test_a_symptom_still_measured_after_the_fix_is_said() -> None:
    # slow-upstream: the timeout is added (SVC004 gone), the store's slow lookups stay
    before = _diagnosis(
        "p99 spikes",
        [Category.SPIKES],
        {CheckKind.AUDIT: ["SVC004"], CheckKind.PROBE: ["LIVE004"]},
    )
    before = replace(
        before,
        checks=(_checked(CheckKind.AUDIT, "SVC004"), _checked(CheckKind.PROBE, "LIVE004")),
    )
    root = before.root_cause
    assert root is not None and root.cause.key == "slow-dependency"
    after = replace(before, checks=(_checked(CheckKind.PROBE, "LIVE004", "LIVE001"),))
    assert measured_codes(before, root) == ("LIVE004",)  # the static SVC004 is not a symptom
    assert measured_codes(after, root) == ("LIVE004",)  # LIVE001 is not this cause's
    assert measured_codes(after, None) == ()
    result = FixResult(
        cause="slow-dependency",
        cause_title="Slow upstream call without a timeout",
        after_cause=None,
        after_title="no root cause",
        after_supported=(),
        applied=("SVC004 app/enrichment.py: timeout=10",),
        refused=(),
        before=None,
        after=None,
        tests=RegressionRun(passed=1, failed=0, summary="1 passed"),
        symptoms_before=("LIVE004",),
        symptoms_after=("LIVE004",),
    )
    assert fixed_cell(result) == ("yes: SVC004; p99 - → -; tests 1 passed; still measured: LIVE004")
    console = Console(record=True, width=200, no_color=True)
    console.print(comparison_table("slow-upstream", result))
    row = next(line for line in console.export_text().splitlines() if "measured symptom" in line)
    assert "LIVE004 still measured" in row
