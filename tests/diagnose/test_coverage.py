"""What a check that ran could see, read from its recorded report."""

from __future__ import annotations

from infermedic.diagnose.coverage import coverage_of
from infermedic.diagnose.hypotheses import CheckKind
from infermedic.model import Notification, NotificationLevel, Report


def test_a_profile_phase_cut_by_the_budget_leaves_its_rule_unjudged() -> None:
    report = Report(
        tool="profile",
        rules_run=("PROF001", "PROF003", "PROF005"),
        measurements={"batch-sweep": {"cells": [1]}, "memory": {"growth": 0}},
    )
    covered = coverage_of(CheckKind.MODEL, report, noisy=None)
    assert covered.judges("PROF001") and covered.judges("PROF005")
    assert not covered.judges("PROF003")
    assert "threads phase did not run" in covered.underpowered["PROF003"]


def test_a_probe_rule_that_lacked_power_is_not_judged() -> None:
    report = Report(
        tool="probe",
        rules_run=("LIVE004", "LIVE008"),
        notifications=(
            Notification(
                level=NotificationLevel.NOTE,
                rule="LIVE004",
                message="12 load requests are too few for a p99",
                underpowered=True,
            ),
        ),
    )
    covered = coverage_of(CheckKind.PROBE, report, noisy=None)
    assert covered.judges("LIVE008") and not covered.judges("LIVE004")
    assert not covered.judges("LIVE001")  # not in rules_run: its phase did not run


def test_a_lagging_load_generator_makes_the_probe_noisy() -> None:
    report = Report(
        tool="probe",
        rules_run=("LIVE004",),
        measurements={
            "load": {
                "percentiles_trustworthy": False,
                "late_send_fraction": 0.4,
                "max_send_lag_ms": 180.0,
            }
        },
    )
    covered = coverage_of(CheckKind.PROBE, report, noisy=None)
    assert covered.noisy is not None and "fell behind" in covered.noisy and "40%" in covered.noisy
    # ... and its timing rules lacked power: their silence is no evidence
    assert not covered.judges("LIVE004")
    assert "fell behind" in covered.underpowered["LIVE004"]
    quiet = coverage_of(
        CheckKind.PROBE,
        Report(tool="probe", measurements={"load": {"percentiles_trustworthy": True}}),
        noisy=None,
    )
    assert quiet.noisy is None


def test_a_saturated_generator_leaves_the_timing_rules_without_power() -> None:
    """The generator measured its own CPU/loop lag at its limit in the sweep: the probe's
    timing rules could have measured the generator, not the service."""
    measurements = {
        "load": {"percentiles_trustworthy": True},
        "generator": {
            "saturated": True,
            "phases": {
                "load": {"cpu_fraction": 0.4, "saturated": False},
                "sweep at concurrency 64": {"cpu_fraction": 0.97, "saturated": True},
            },
        },
    }
    report = Report(
        tool="probe", rules_run=("LIVE002", "LIVE004", "LIVE008"), measurements=measurements
    )
    covered = coverage_of(CheckKind.PROBE, report, noisy=None)
    assert not covered.judges("LIVE002") and not covered.judges("LIVE004")
    assert "sweep at concurrency 64" in covered.underpowered["LIVE002"]
    assert covered.judges("LIVE008")  # memory growth is no timing effect
    assert covered.noisy is not None and "saturated" in covered.noisy
    calm = {**measurements, "generator": {"saturated": False, "phases": {}}}
    quiet = coverage_of(
        CheckKind.PROBE, Report(tool="probe", rules_run=("LIVE004",), measurements=calm), noisy=None
    )
    assert quiet.judges("LIVE004") and quiet.noisy is None


def test_too_few_stack_samples_judge_nothing() -> None:
    report = Report(
        tool="profile",
        rules_run=("PROF013", "PROF014"),
        measurements={"live": {"threads": [{"samples": 12}], "loop_thread": "MainThread"}},
    )
    covered = coverage_of(CheckKind.PROFILE, report, noisy=None)
    assert not covered.judges("PROF013") and not covered.judges("PROF014")
    enough = Report(
        tool="profile",
        rules_run=("PROF013", "PROF014"),
        measurements={"live": {"threads": [{"samples": 400}], "loop_thread": None}},
    )
    covered = coverage_of(CheckKind.PROFILE, enough, noisy=None)
    assert covered.judges("PROF014") and not covered.judges("PROF013")


def test_the_audit_judges_the_rules_it_ran_and_no_other() -> None:
    # `--select`, or a recording made before a rule existed: a rule that did not run saw
    # nothing, so its silence says nothing
    report = Report(tool="audit", rules_run=("SVC001", "SVC011"))
    covered = coverage_of(CheckKind.AUDIT, report, noisy=None)
    assert covered.judges("SVC001") and covered.judges("SVC011")
    assert not covered.judges("SVC012")
    crashed = Report(
        tool="audit", rules_run=("SVC001", "SVC011"), measurements={"rules_failed": ["SVC011"]}
    )
    covered = coverage_of(CheckKind.AUDIT, crashed, noisy=None)
    assert covered.judges("SVC001") and not covered.judges("SVC011")
    assert covered.underpowered["SVC011"] == "the audit rule crashed"
    # a report that does not list its rules claims nothing was left out
    assert coverage_of(CheckKind.AUDIT, Report(tool="audit"), noisy=None).judges("SVC012")
