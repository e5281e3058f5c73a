"""The probe against a real uvicorn service: each planted behaviour gets its finding, the
healthy routes get none. Loads are short (2-3 s) and sleep-based, so they hold on a busy box."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infermedic.model import Report
from infermedic.probe import CheckName, ProbePlan, probe
from tests.probe.servers import Served, serve

pytestmark = pytest.mark.server

BODY = {"x": 1.5, "y": 2.0}
BLOCKING = frozenset({CheckName.CONTRACT, CheckName.BLOCKING})


@pytest.fixture(scope="module")
def service() -> Iterator[Served]:
    with serve() as served:
        yield served


def run(service: Served, path: str, **plan: Any) -> Report:
    plan.setdefault("blocking_duration_s", 2.0)
    return probe(
        service.url, ProbePlan(input_body=BODY, predict_path=path, pid=service.pid, **plan)
    )


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


def test_blocking_call_in_async_route_is_event_loop_blocked(service: Served) -> None:
    report = run(service, "/predict/block", checks=BLOCKING)
    assert "LIVE001" in codes(report)
    assert "LIVE002" not in codes(report)  # explained by the blocked loop
    finding = next(f for f in report.findings if f.code == "LIVE001")
    assert finding.location.endpoint == "POST /predict/block"
    assert len(finding.evidence) == 3
    # one definition, labelled: the finding's idle p99 is the table's actual-send row
    table = next(t for t in report.tables if t.key == "blocking")
    idle = next(r for r in table.rows if str(r[0]).startswith("idle, from actual send"))
    p99 = idle[table.columns.index("p99")]
    assert f"went from {p99:.1f} ms idle" in finding.message, (finding.message, idle)


def test_lock_around_the_model_is_serialized_not_blocked(service: Served) -> None:
    report = run(service, "/predict/lock", checks=BLOCKING)
    assert "LIVE002" in codes(report)
    assert "LIVE001" not in codes(report)


def test_thread_pool_route_is_healthy(service: Served) -> None:
    report = run(service, "/predict/threaded", checks=BLOCKING)
    assert not codes(report) & {"LIVE001", "LIVE002"}
    blocking = report.measurements["blocking"]
    assert blocking["predict_concurrency_n"]["throughput_rps"] > 0


def test_slow_upstream_shows_as_tail_and_dominant_stage(service: Served) -> None:
    report = run(
        service,
        "/predict/spiky",
        checks=frozenset({CheckName.CONTRACT, CheckName.LOAD}),
        rate=40,
        duration_s=3.0,
    )
    assert {"LIVE004", "LIVE012"} <= codes(report)
    stage = next(f for f in report.findings if f.code == "LIVE012")
    assert "`upstream`" in stage.message
    timing = report.measurements["load"]["server_timing"]
    assert timing["upstream"]["responses"] == 120


def test_memory_growth_under_load(service: Served) -> None:
    report = run(
        service,
        "/predict/leaky",
        checks=frozenset({CheckName.CONTRACT, CheckName.LOAD}),
        rate=40,
        duration_s=6.0,
    )
    assert "LIVE008" in codes(report)
    assert report.measurements["memory"]["source"].startswith("psutil")


def test_fast_route_has_no_findings_under_load(service: Served) -> None:
    report = run(
        service,
        "/predict/fast",
        checks=frozenset({CheckName.CONTRACT, CheckName.LOAD, CheckName.ROBUSTNESS}),
        rate=50,
        duration_s=2.0,
    )
    # the service has /livez, /readyz, /metrics and validates its input
    assert codes(report) == set()
    load = report.measurements["load"]
    assert load["requests"] == 100 and load["errors"] == 0


def test_sweep_finds_a_knee(service: Served) -> None:
    report = run(
        service,
        "/predict/lock",
        checks=frozenset({CheckName.SWEEP}),
        sweep=(1, 2, 4),
        sweep_window_s=0.5,
        sweep_max_step_s=2.0,
    )
    steps = report.measurements["sweep"]["steps"]
    assert [s["concurrency"] for s in steps] == [1, 2, 4]
    # one request at a time: more concurrency adds latency, not throughput
    assert report.measurements["sweep"]["knee_concurrency"] in (1, 2)
    assert any(p.key == "sweep_throughput" for p in report.plots)


def test_worker_processes_merge_their_histograms(service: Served) -> None:
    report = run(
        service,
        "/predict/fast",
        checks=frozenset({CheckName.LOAD}),
        rate=40,
        duration_s=2.0,
        workers=2,
    )
    load = report.measurements["load"]
    assert load["workers"] == 2
    assert load["requests"] == 80 and load["latency"]["count"] == 80
