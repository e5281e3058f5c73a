"""The views read a diagnosis once, from the JSON contract, into typed values: a recorded
incident, replayed, reads back as the judge left it."""

from __future__ import annotations

import json
from pathlib import Path

from infermedic.diagnose import replay
from infermedic.model import Report
from infermedic.report.diagnosis_view import DiagnosisView
from infermedic.report.jsonfmt import report_from_dict, to_dict

INCIDENT = Path(__file__).resolve().parents[1] / "fixtures/incidents/busy_host/healthy.json"


def test_a_replayed_incident_reads_back_as_the_judge_left_it() -> None:
    diagnosis = replay(INCIDENT)
    # through the JSON boundary, as a saved report is read
    saved = report_from_dict(json.loads(json.dumps(to_dict(diagnosis.to_report()))))
    view = DiagnosisView.of(saved)
    assert view is not None
    assert view.symptom == diagnosis.route.symptom
    assert view.verdict == diagnosis.verdict()
    assert view.categories == tuple(c.label for c in diagnosis.route.categories)
    assert [h.title for h in view.hypotheses] == [h.cause.title for h in diagnosis.hypotheses]
    assert [h.status for h in view.hypotheses] == [h.status.value for h in diagnosis.hypotheses]
    assert [c.kind for c in view.checks] == [c.kind.value for c in diagnosis.ordered_checks()]
    assert {h.check for h in view.busy_hosts} == {
        c.kind.value for c in diagnosis.checks if c.host is not None and c.host.noisy
    }
    # what the probe measured: the load test's latency and the model version it served
    assert view.latency is not None and view.latency.requests == 100
    assert ("model version (GET /version)", "3") in view.model


def test_another_engines_report_holds_no_diagnosis() -> None:
    assert DiagnosisView.of(Report(tool="probe", measurements={"load": {}})) is None
