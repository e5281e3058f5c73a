"""Judging causes: static and measured evidence corroborate; absent evidence refutes."""

from __future__ import annotations

from infermedic.diagnose.hypotheses import CheckKind, Status, evaluate
from infermedic.diagnose.router import Category
from infermedic.model import Finding, Location, Severity


def finding(code: str, severity: Severity = Severity.HIGH) -> Finding:
    return Finding(
        code=code,
        name=code.lower(),
        severity=severity,
        message=f"{code} seen",
        location=Location(path="app/main.py", line=3),
    )


def by_key(hypotheses: list, key: str):  # type: ignore[no-untyped-def]
    return next(h for h in hypotheses if h.cause.key == key)


def test_static_plus_live_confirms_with_two_sources() -> None:
    hypotheses = evaluate(
        [Category.SPIKES],
        {CheckKind.AUDIT: [finding("SVC001")], CheckKind.PROBE: [finding("LIVE001")]},
        [CheckKind.AUDIT, CheckKind.PROBE],
    )
    top = hypotheses[0]
    assert top.cause.key == "event-loop-blocking"
    assert top.status is Status.CONFIRMED
    assert top.sources == (CheckKind.AUDIT, CheckKind.PROBE)
    assert "SVC001" in top.reason


def test_static_alone_is_suspected_not_confirmed() -> None:
    hypotheses = evaluate(
        [Category.SLOW], {CheckKind.AUDIT: [finding("SVC002")]}, [CheckKind.AUDIT]
    )
    load = by_key(hypotheses, "model-load-per-request")
    assert load.status is Status.SUSPECTED
    assert "--url" in load.reason
    blocking = by_key(hypotheses, "event-loop-blocking")
    assert blocking.status is Status.REFUTED  # the audit ran and saw no blocking call


def test_generic_symptom_needs_static_evidence_to_confirm_a_cause() -> None:
    findings = {CheckKind.PROBE: [finding("LIVE004")], CheckKind.AUDIT: [finding("SVC004")]}
    hypotheses = evaluate([Category.SPIKES], findings, [CheckKind.AUDIT, CheckKind.PROBE])
    assert hypotheses[0].cause.key == "slow-dependency"
    assert hypotheses[0].status is Status.CONFIRMED
    explainer = by_key(hypotheses, "explainer-per-request")
    assert explainer.status is Status.REFUTED  # p99 spikes, but no explainer in the code


def test_nothing_found_refutes_what_was_tested_and_names_missing_inputs() -> None:
    hypotheses = evaluate([Category.ACCURACY, Category.SLOW], {}, [CheckKind.AUDIT])
    drift = by_key(hypotheses, "input-drift")
    assert drift.status is Status.NOT_TESTED and "--reference" in drift.reason
    assert by_key(hypotheses, "event-loop-blocking").status is Status.REFUTED
    assert all(h.status is not Status.CONFIRMED for h in hypotheses)


def test_prediction_shift_without_input_shift_is_skew_not_drift() -> None:
    skew_only = evaluate(
        [Category.WRONG], {CheckKind.DRIFT: [finding("DRIFT002")]}, [CheckKind.DRIFT]
    )
    assert skew_only[0].cause.key == "preprocessing-skew"
    assert skew_only[0].status is Status.CONFIRMED
    both = evaluate(
        [Category.WRONG],
        {CheckKind.DRIFT: [finding("DRIFT002"), finding("DRIFT001")]},
        [CheckKind.DRIFT],
    )
    assert both[0].cause.key == "input-drift"
    assert by_key(both, "preprocessing-skew").status is Status.REFUTED


def test_a_specific_cause_outranks_the_mechanism_it_refines() -> None:
    findings = {
        CheckKind.AUDIT: [finding("SVC005"), finding("SVC003")],
        CheckKind.PROBE: [finding("LIVE001")],
    }
    hypotheses = evaluate([Category.SLOW], findings, [CheckKind.AUDIT, CheckKind.PROBE])
    assert [h.cause.key for h in hypotheses[:2]] == [
        "blocking-prediction-log",
        "event-loop-blocking",
    ]
    assert all(h.status is Status.CONFIRMED for h in hypotheses[:2])
