"""The one boundary where diagnose reads a check's measurements: recorded reports in, typed
values out; a block of another shape reads as absent, never as a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infermedic.diagnose.measured import ProbeMeasured, ProfileMeasured, RunStatus
from infermedic.model import Report
from infermedic.report.jsonfmt import report_from_dict

INCIDENTS = Path(__file__).resolve().parents[1] / "fixtures" / "incidents" / "busy_host"


def _recorded(scenario: str, kind: str) -> Report:
    data = json.loads((INCIDENTS / f"{scenario}.json").read_text(encoding="utf-8"))
    check = next(c for c in data["checks"] if c["kind"] == kind)
    return report_from_dict(check["report"])


def test_a_recorded_probe_reads_as_typed_values() -> None:
    probed = ProbeMeasured.of(_recorded("healthy", "probe"))
    assert probed.predict_path == "/predict"
    assert probed.load is not None and probed.load.latency is not None
    latency = probed.load.latency
    assert latency.requests == 100 and latency.throughput_rps == 20.0
    assert latency.p50_ms is not None and latency.p99_ms is not None
    assert latency.p50_ms <= latency.p99_ms <= (latency.max_ms or 0)
    assert ("GET /version", "3") in probed.model_versions
    assert probed.model_rows()[0] == ("model version (/metrics label version)", "3")


def test_server_stages_and_versions_become_the_model_rows() -> None:
    report = Report(
        tool="probe",
        measurements={
            "contract": {"model_versions": [{"source": "GET /version", "version": "7"}]},
            "load": {"server_timing": {"db": {"mean_ms": 3.25, "responses": 9}}},
        },
    )
    assert ProbeMeasured.of(report).model_rows() == [
        ("model version (GET /version)", "7"),
        ("server stage `db` mean", "3.25 ms"),
    ]


def test_a_saturated_generator_names_its_phases() -> None:
    report = Report(
        tool="probe",
        measurements={
            "generator": {
                "saturated": True,
                "phases": {"load": {"saturated": True}, "sweep": {"saturated": False}},
            }
        },
    )
    assert ProbeMeasured.of(report).generator_lag() == ("the load generator was saturated (load)")


@pytest.mark.parametrize(
    "measurements",
    [
        {},
        {"load": "not a block", "contract": [], "routes": None, "generator": 3},
        {"load": {"latency": {"count": 0}}, "contract": {"model_versions": [7, {"x": 1}]}},
    ],
)
def test_missing_or_odd_blocks_read_as_absent(measurements: dict[str, Any]) -> None:
    probed = ProbeMeasured.of(Report(tool="probe", measurements=measurements))
    assert probed.predict_path is None and probed.model_versions == ()
    assert probed.load is None or probed.load.latency is None
    assert probed.generator_lag() is None and probed.saturated_phases is None


def test_the_profile_worker_outcome_reads_as_cut_or_refused() -> None:
    def profile(status: str, **worker: Any) -> ProfileMeasured:
        return ProfileMeasured.of(
            Report(tool="profile", measurements={"status": status, "worker": worker})
        )

    assert profile("partial", timed_out=True).cut_by_budget
    assert not profile("partial", timed_out=True, memory_exceeded=True).cut_by_budget
    assert profile("failed", last_phase="first-call").failed_at_first_call
    assert not profile("failed", last_phase="first-call", timed_out=True).failed_at_first_call
    assert not profile("failed", last_phase="load").failed_at_first_call
    assert not ProfileMeasured.of(Report(tool="profile")).cut_by_budget


def test_live_sampling_and_phases_from_a_recorded_profile() -> None:
    measured = ProfileMeasured.of(_recorded("healthy", "profile"))
    assert measured.live is not None and measured.live.samples > 0
    phases = ProfileMeasured.of(
        Report(tool="profile", measurements={"threads": {"error": "x"}, "memory": {"g": 1}})
    )
    assert phases.ran("memory") and not phases.ran("threads") and not phases.ran("gc")


def test_rules_failed_reads_from_any_engine() -> None:
    report = Report(tool="audit", measurements={"status": "partial", "rules_failed": ["SVC001"]})
    assert RunStatus.of(report) == RunStatus(status="partial", rules_failed=("SVC001",))
    assert RunStatus.of(Report(tool="audit")) == RunStatus(status=None, rules_failed=())
