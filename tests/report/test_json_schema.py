"""The JSON report's versioned schema holds for real outputs of every command.

Each command runs for real and small: audit on a demo repo, probe against a uvicorn service,
drift on two Parquet files, profile on a trained model, diagnose on every recorded incident.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest

from infermedic.model import Report
from infermedic.report import OutputFormat, render
from infermedic.report.jsonfmt import SCHEMA_VERSION, json_schema

INCIDENTS = Path(__file__).resolve().parents[1] / "fixtures" / "incidents" / "busy_host"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    return jsonschema.Draft202012Validator(schema)


def _valid(validator: jsonschema.Draft202012Validator, report: Report) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render(report, OutputFormat.JSON))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors, errors[:5]
    return data


def test_the_schema_is_packaged_beside_the_renderer() -> None:
    import infermedic.report

    path = Path(infermedic.report.__file__).parent / "schema" / f"report-v{SCHEMA_VERSION}.json"
    assert path.is_file()


def test_audit_output(validator: jsonschema.Draft202012Validator, tmp_path: Path) -> None:
    from infermedic.audit import audit
    from infermedic.demo.repository import write_scenario

    data = _valid(validator, audit([write_scenario("blocking-predict", tmp_path / "bp")]))
    assert [f["code"] for f in data["findings"]] == ["SVC001"]


def test_drift_output(validator: jsonschema.Draft202012Validator, tmp_path: Path) -> None:
    from infermedic.drift import drift

    rng = np.random.default_rng(5)
    for name, shift in (("ref", 0.0), ("cur", 1.0)):
        frame = pd.DataFrame({"x": rng.normal(shift, 1, 800), "c": rng.choice(["a", "b"], 800)})
        frame.to_parquet(tmp_path / f"{name}.parquet")
    data = _valid(validator, drift(tmp_path / "ref.parquet", tmp_path / "cur.parquet"))
    assert data["findings"] and data["plots"]


def test_diagnose_output_of_every_recorded_incident(
    validator: jsonschema.Draft202012Validator,
) -> None:
    from infermedic.diagnose import replay

    recorded = sorted(INCIDENTS.glob("*.json"))
    assert len(recorded) >= 10
    for path in recorded:
        data = _valid(validator, replay(path).to_report())
        assert data["tool"]["command"] == "diagnose", path.name


@pytest.mark.server
def test_probe_output(validator: jsonschema.Draft202012Validator) -> None:
    from infermedic.probe import CheckName, ProbePlan, probe
    from tests.probe.servers import serve

    with serve() as served:
        plan = ProbePlan(
            input_body={"x": 1.5, "y": 2.0},
            predict_path="/predict/block",
            checks=frozenset({CheckName.CONTRACT, CheckName.BLOCKING}),
            blocking_duration_s=2.0,
        )
        data = _valid(validator, probe(served.url, plan))
    assert data["tool"]["command"] == "probe" and data["tables"]


def test_profile_output(validator: jsonschema.Draft202012Validator, tmp_path: Path) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression

    from infermedic.profile import MeasurePlan, profile_model

    X = np.random.default_rng(1).normal(size=(300, 4))
    joblib.dump(LogisticRegression().fit(X, X[:, 0] > 0), tmp_path / "m.joblib")
    plan = MeasurePlan.quick(budget_s=20, try_options=False)
    data = _valid(validator, profile_model(tmp_path / "m.joblib", plan=plan))
    assert data["measurements"]["batch-sweep"]["cells"]


def test_the_schema_rejects_what_the_contract_does_not_allow(
    validator: jsonschema.Draft202012Validator,
) -> None:
    from infermedic.diagnose import replay

    data = json.loads(
        render(replay(INCIDENTS / "blocking-predict.json").to_report(), OutputFormat.JSON)
    )
    assert data["findings"]
    broken = json.loads(json.dumps(data))
    broken["findings"][0]["severity"] = "urgent"
    assert not validator.is_valid(broken)
    broken = json.loads(json.dumps(data))
    del broken["findings"][0]["fix"]
    assert not validator.is_valid(broken)
    broken = json.loads(json.dumps(data))
    broken["schema_version"] = SCHEMA_VERSION + 1
    assert not validator.is_valid(broken)
