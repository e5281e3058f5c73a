"""The probe against the demo scenarios (real uvicorn services with one planted fault each)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from infermedic.model import Report
from infermedic.probe import CheckName, ProbePlan, probe

pytestmark = [pytest.mark.server, pytest.mark.slow]

demo = pytest.importorskip("infermedic.demo.service")

CUSTOMER = {
    "tenure_months": 12,
    "monthly_charges": 60.0,
    "support_calls": 1,
    "age": 40,
    "plan": "standard",
    "region": "north",
}
CONTRACT = CheckName.CONTRACT
LOAD = CheckName.LOAD
BLOCKING = CheckName.BLOCKING


def probe_scenario(name: str, *checks: CheckName, **plan: Any) -> Report:
    plan.setdefault("blocking_duration_s", 2.0)
    plan.setdefault("rate", 20.0)
    plan.setdefault("duration_s", 3.0)
    from infermedic.errors import EngineUnavailable

    try:
        with demo.running_scenario(name) as service:
            return probe(
                service.url,
                ProbePlan(input_body=CUSTOMER, checks=frozenset(checks), pid=service.pid, **plan),
            )
    except EngineUnavailable as exc:  # the scenario's service does not start (yet)
        pytest.skip(f"demo scenario {name} does not start: {str(exc)[:200]}")


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


def test_healthy_has_no_live_finding_at_a_load_it_carries() -> None:
    report = probe_scenario("healthy", CONTRACT, LOAD, BLOCKING)
    # LIVE002 is left out: the healthy model is CPU-bound Python, so the GIL serializes it
    # for real and on a busy 2-core machine its throughput does not scale (known gap).
    assert codes(report) - {"LIVE002"} == set(), [f.message for f in report.findings]


def test_blocking_predict_blocks_the_event_loop() -> None:
    assert "LIVE001" in codes(probe_scenario("blocking-predict", CONTRACT, BLOCKING))


@functools.cache
def global_lock_report() -> Report:
    return probe_scenario("global-lock", CONTRACT, BLOCKING)


def test_global_lock_is_not_a_blocked_loop() -> None:
    assert "LIVE001" not in codes(global_lock_report())


@pytest.mark.xfail(
    reason="the lock guards CPU-bound numpy work: on a shared 2-core machine unlocked "
    "requests would not scale either, so throughput-vs-concurrency cannot tell the lock "
    "apart reliably (tests/probe/test_live_server.py checks LIVE002 on a lock around I/O)",
    strict=False,
)
def test_global_lock_serializes_inference() -> None:
    assert "LIVE002" in codes(global_lock_report())


def test_no_validation_answers_bad_input_with_500() -> None:
    report = probe_scenario("no-validation", CONTRACT, CheckName.ROBUSTNESS)
    assert "LIVE005" in codes(report)


def test_version_mismatch_against_the_pinned_version() -> None:
    report = probe_scenario("version-mismatch", CONTRACT, expect_version="3")
    finding = next(f for f in report.findings if f.code == "LIVE007")
    assert "'4'" in finding.message


def test_memory_leak_grows_under_load() -> None:
    report = probe_scenario("memory-leak", CONTRACT, LOAD, rate=100.0, duration_s=6.0)
    assert "LIVE008" in codes(report)


def test_cold_start_first_request_is_slow() -> None:
    assert "LIVE003" in codes(probe_scenario("cold-start", CONTRACT, LOAD))


def test_slow_upstream_shows_in_the_tail() -> None:
    report = probe_scenario("slow-upstream", CONTRACT, LOAD, rate=40.0, duration_s=5.0)
    assert "LIVE004" in codes(report)
