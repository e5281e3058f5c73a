"""Judging causes on recorded findings: static and measured evidence corroborate; only a
measured check that looked, with the power to see, refutes; a busy host or a small effect
never confirms alone."""

from __future__ import annotations

from dataclasses import replace

from infermedic.diagnose.hypotheses import CheckKind, Coverage, Status, evaluate
from infermedic.diagnose.model import CheckRun, CheckStatus, Diagnosis
from infermedic.diagnose.router import Category, route
from infermedic.model import Effect, Finding, Location, Report, Severity


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
    # the audit's silence is no proof: the cause is untested until something measures it
    assert blocking.status is Status.NOT_TESTED
    assert "SVC001" in blocking.reason and "--url" in blocking.reason


def test_generic_symptom_needs_static_evidence_to_confirm_a_cause() -> None:
    findings = {CheckKind.PROBE: [finding("LIVE004")], CheckKind.AUDIT: [finding("SVC004")]}
    hypotheses = evaluate([Category.SPIKES], findings, [CheckKind.AUDIT, CheckKind.PROBE])
    assert hypotheses[0].cause.key == "slow-dependency"
    assert hypotheses[0].status is Status.CONFIRMED
    explainer = by_key(hypotheses, "explainer-per-request")
    # p99 spikes and no explainer in the code: consistent, but the deciding check found nothing
    assert explainer.status is Status.INCONCLUSIVE
    assert not explainer.eligible_root


def test_nothing_found_refutes_what_was_tested_and_names_missing_inputs() -> None:
    hypotheses = evaluate([Category.ACCURACY, Category.SLOW], {}, [CheckKind.AUDIT])
    drift = by_key(hypotheses, "input-drift")
    assert drift.status is Status.NOT_TESTED and "--reference" in drift.reason
    assert by_key(hypotheses, "event-loop-blocking").status is Status.NOT_TESTED
    assert all(h.status is not Status.CONFIRMED for h in hypotheses)
    # a probe that ran and judged LIVE001 (and py-spy PROF013) with nothing found refutes it
    measured = evaluate([Category.SLOW], {}, [CheckKind.AUDIT, CheckKind.PROBE])
    blocking = by_key(measured, "event-loop-blocking")
    assert blocking.status is Status.REFUTED and "LIVE001" in blocking.reason


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


def timed(code: str, value: float, threshold: float, strong: float) -> Finding:
    return replace(
        finding(code),
        effect=Effect(statistic="ratio", value=value, threshold=threshold, strong=strong),
    )


def test_a_check_whose_phase_did_not_run_is_not_evidence_against_a_cause() -> None:
    # The probe ran, but its blocking phase did not (no health route): LIVE001 was not judged.
    probe = Coverage(
        kind=CheckKind.PROBE,
        judged=frozenset({"LIVE004", "LIVE005"}),
        underpowered={},
    )
    hypotheses = evaluate([Category.SPIKES], {}, {CheckKind.PROBE: probe})
    blocking = by_key(hypotheses, "event-loop-blocking")
    assert blocking.status is Status.NOT_TESTED
    assert "did not judge LIVE001" in blocking.reason


def test_a_rule_that_lacked_power_leaves_its_cause_inconclusive() -> None:
    model = Coverage(
        kind=CheckKind.MODEL,
        judged=frozenset({"PROF001", "PROF005"}),
        underpowered={"PROF003": "the profile's threads phase did not run"},
    )
    hypotheses = evaluate([Category.SLOW], {}, {CheckKind.MODEL: model})
    threads = by_key(hypotheses, "worker-oversubscription")
    assert threads.status is Status.INCONCLUSIVE
    assert "threads phase did not run" in threads.reason
    leak = evaluate([Category.MEMORY], {}, {CheckKind.MODEL: model})
    # PROF005 was judged with its phase: a model that does not leak refutes the model leak
    assert by_key(leak, "memory-leak").status is Status.REFUTED


def test_one_timing_reading_on_a_busy_host_is_only_suspected_and_never_the_root() -> None:
    busy = Coverage(kind=CheckKind.PROFILE, noisy="other processes used 1.9 of 2 cores")
    hypotheses = evaluate(
        [Category.SPIKES],
        {CheckKind.PROFILE: [timed("PROF013", 0.35, 0.2, 0.8)]},
        {CheckKind.PROFILE: busy},
    )
    blocking = by_key(hypotheses, "event-loop-blocking")
    assert blocking.status is Status.SUSPECTED
    assert blocking.noisy and "noisy host" in blocking.reason
    assert not blocking.eligible_root


def test_a_small_timing_effect_on_a_quiet_host_needs_a_second_source() -> None:
    quiet = Coverage(kind=CheckKind.PROBE)
    alone = evaluate(
        [Category.SPIKES],
        {CheckKind.PROBE: [timed("LIVE001", 0.6, 0.5, 1.0)]},
        {CheckKind.PROBE: quiet},
    )
    assert by_key(alone, "event-loop-blocking").status is Status.SUSPECTED
    assert "stand-alone level" in by_key(alone, "event-loop-blocking").reason
    large = evaluate(
        [Category.SPIKES],
        {CheckKind.PROBE: [timed("LIVE001", 1.4, 0.5, 1.0)]},
        {CheckKind.PROBE: quiet},
    )
    top = by_key(large, "event-loop-blocking")
    assert top.status is Status.CONFIRMED and "criterion" in top.reason


def test_two_independent_sources_confirm_even_on_a_busy_host() -> None:
    busy = "other processes used 2.0 of 2 cores"
    hypotheses = evaluate(
        [Category.SPIKES],
        {
            CheckKind.AUDIT: [finding("SVC001")],
            CheckKind.PROBE: [timed("LIVE001", 0.6, 0.5, 1.0)],
        },
        {
            CheckKind.AUDIT: Coverage(kind=CheckKind.AUDIT),
            CheckKind.PROBE: Coverage(kind=CheckKind.PROBE, noisy=busy),
        },
    )
    top = hypotheses[0]
    assert top.cause.key == "event-loop-blocking" and top.status is Status.CONFIRMED
    assert "two independent sources" in top.reason


def test_a_response_the_host_cannot_fake_confirms_alone_on_a_busy_host() -> None:
    busy = Coverage(kind=CheckKind.PROBE, noisy="steal 30%")
    hypotheses = evaluate(
        [Category.MEMORY], {CheckKind.PROBE: [finding("LIVE008")]}, {CheckKind.PROBE: busy}
    )
    assert by_key(hypotheses, "memory-leak").status is Status.CONFIRMED


def test_causes_outside_the_symptom_are_also_found_and_never_the_root_beside_support() -> None:
    findings = {
        CheckKind.DRIFT: [finding("DRIFT002")],
        CheckKind.AUDIT: [finding("SVC001")],
        CheckKind.PROBE: [finding("LIVE001")],
    }
    covered = [CheckKind.DRIFT, CheckKind.AUDIT, CheckKind.PROBE]
    hypotheses = evaluate([Category.WRONG], findings, covered)
    diagnosis = Diagnosis(
        route=route("the model flags far more customers as churners"),
        checks=(),
        hypotheses=tuple(hypotheses),
    )
    blocking = by_key(hypotheses, "event-loop-blocking")
    assert blocking.status is Status.CONFIRMED and not blocking.in_symptom
    root = diagnosis.root_cause
    assert root is not None and root.cause.key == "preprocessing-skew"
    assert hypotheses[0].cause.key == "preprocessing-skew"
    # with no in-symptom support, an out-of-symptom confirmed cause may still be named
    only_blocking = evaluate(
        [Category.WRONG],
        {k: v for k, v in findings.items() if k is not CheckKind.DRIFT},
        covered,
    )
    alone = Diagnosis(route=route("wrong"), checks=(), hypotheses=tuple(only_blocking))
    assert alone.root_cause is not None
    assert alone.root_cause.cause.key == "event-loop-blocking"


def test_no_root_cause_beside_a_medium_finding_is_explained() -> None:
    hypotheses = evaluate(
        [Category.WRONG],
        {CheckKind.PROBE: [finding("LIVE004", Severity.MEDIUM)]},
        [CheckKind.PROBE],
    )
    probe_run = CheckRun(
        kind=CheckKind.PROBE,
        status=CheckStatus.RAN,
        command="infermedic probe URL",
        report=Report(tool="probe", findings=(finding("LIVE004", Severity.MEDIUM),)),
    )
    diagnosis = Diagnosis(
        route=route("wrong class for many users"), checks=(probe_run,), hypotheses=tuple(hypotheses)
    )
    assert diagnosis.root_cause is None
    assert "LIVE004" in diagnosis.verdict() and "tie to no cause" in diagnosis.verdict()


def test_failed_checks_are_listed_first_and_named_in_the_verdict() -> None:
    ran = CheckRun(kind=CheckKind.AUDIT, status=CheckStatus.RAN, command="infermedic audit .")
    failed = CheckRun(
        kind=CheckKind.PROBE,
        status=CheckStatus.FAILED,
        command="infermedic probe URL",
        reason="TargetUnreachable: nothing answered",
    )
    diagnosis = Diagnosis(route=route("slow"), checks=(ran, failed), hypotheses=())
    assert diagnosis.ordered_checks()[0] is failed
    assert "failed (probe)" in diagnosis.verdict()
    assert diagnosis.summary()["checks"][0]["status"] == "failed"


def test_a_prevention_command_is_kept_only_when_it_fails_on_todays_code() -> None:
    # measured only (LIVE008): an `audit --select` guard would pass on today's code
    probe_run = CheckRun(
        kind=CheckKind.PROBE,
        status=CheckStatus.RAN,
        command="infermedic probe URL",
        report=Report(tool="probe", findings=(finding("LIVE001"),)),
    )
    audit_run = CheckRun(
        kind=CheckKind.AUDIT,
        status=CheckStatus.RAN,
        command="infermedic audit .",
        report=Report(tool="audit", findings=(finding("SVC001"),)),
    )
    findings = {CheckKind.PROBE: [finding("LIVE001")], CheckKind.AUDIT: [finding("SVC001")]}
    both = Diagnosis(
        route=route("p99 spikes"),
        checks=(probe_run, audit_run),
        hypotheses=tuple(evaluate([Category.SPIKES], findings, list(findings))),
    )
    items = both.prevention()
    assert any("--select SVC001,SVC003" in i and "fails now" in i for i in items)
    assert any("--checks blocking" in i and "LIVE001" in i for i in items)
    large = timed("LIVE001", 1.5, 0.5, 1.0)
    measured_only = Diagnosis(
        route=route("p99 spikes"),
        checks=(replace(probe_run, report=Report(tool="probe", findings=(large,))),),
        hypotheses=tuple(
            evaluate([Category.SPIKES], {CheckKind.PROBE: [large]}, [CheckKind.PROBE])
        ),
    )
    root = measured_only.root_cause
    assert root is not None and root.status is Status.CONFIRMED
    items = measured_only.prevention()
    assert not any("infermedic audit" in i for i in items)
    assert any("--checks blocking" in i for i in items)


def test_a_failed_check_is_named_in_the_reason_not_asked_for_again() -> None:
    hypotheses = evaluate(
        [Category.SPIKES],
        {CheckKind.AUDIT: [finding("SVC001")]},
        [CheckKind.AUDIT],
        failed={CheckKind.PROBE: "InputError: cannot tell which route makes predictions"},
    )
    blocking = by_key(hypotheses, "event-loop-blocking")
    assert blocking.status is Status.SUSPECTED
    assert "the probe check failed (InputError: cannot tell which route" in blocking.reason
    assert "needs --url URL;" not in blocking.reason  # only py-spy sampling still needs it


def test_a_static_pattern_outside_the_symptom_is_never_the_root() -> None:
    # "some requests return 500" on a service whose only finding is DKR002 (workers)
    hypotheses = evaluate(
        [Category.FAILURES], {CheckKind.AUDIT: [finding("DKR002")]}, [CheckKind.AUDIT]
    )
    workers = by_key(hypotheses, "worker-oversubscription")
    assert workers.status is Status.SUSPECTED and not workers.in_symptom
    diagnosis = Diagnosis(
        route=route("some requests return 500"), checks=(), hypotheses=tuple(hypotheses)
    )
    assert diagnosis.root_cause is None
