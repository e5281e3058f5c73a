"""Scenario metadata and the repositories `write_scenario` produces (no server started)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import duckdb
import pytest
import yaml

from infermedic.demo.data import drifted_customers, reference_frame, request_bodies
from infermedic.demo.repository import write_scenario
from infermedic.demo.scenarios import (
    SCENARIOS,
    TrafficProfile,
    get_scenario,
    list_scenarios,
)
from infermedic.demo.templates.app.churn import FEATURES, Customer
from infermedic.errors import InputError

ALL_CODES = re.compile(r"^(SVC|XPL|DKR|K8S|PKG|REP|MON|LIVE|DRIFT|PROF)\d{3}$")


def test_every_fault_named_in_the_issue_has_a_scenario() -> None:
    assert set(SCENARIOS) == {
        "healthy",
        "blocking-predict",
        "load-per-request",
        "explainer-per-request",
        "blocking-log",
        "slow-upstream",
        "memory-leak",
        "cold-start",
        "preprocessing-skew",
        "input-drift",
        "version-mismatch",
        "no-validation",
        "global-lock",
    }
    assert list_scenarios()[0].name == "healthy"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_metadata_is_complete(name: str) -> None:
    scenario = SCENARIOS[name]
    assert scenario.symptom and scenario.fault
    assert all(ALL_CODES.match(code) for code in scenario.expected_codes)
    assert set(scenario.static_codes) | set(scenario.measured_codes) == set(scenario.expected_codes)
    assert (scenario.category is None) == scenario.is_healthy
    assert scenario.liveness_path != scenario.readiness_path
    assert json.loads(json.dumps(scenario.metadata()))["name"] == name


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: write_scenario(name, tmp_path_factory.mktemp(name)) for name in SCENARIOS}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_written_repository_is_complete_and_readable(name: str, written: dict[str, Path]) -> None:
    root = written[name]
    scenario = SCENARIOS[name]
    for path in ("app/main.py", "app/churn.py", "requirements.txt", "Dockerfile", "README.md"):
        assert (root / path).is_file(), path
    for _, written_path in scenario.modules:
        ast.parse((root / written_path).read_text(), filename=written_path)
    for fault_file in scenario.fault_files:
        assert (root / fault_file).is_file()
    metadata = json.loads((root / "scenario.json").read_text())
    assert metadata == scenario.metadata()
    assert metadata["prediction_log_dir"] == "logs"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_deployment_files_follow_the_checklist(name: str, written: dict[str, Path]) -> None:
    root = written[name]
    requirements = (root / "requirements.txt").read_text()
    assert "==" not in requirements
    dockerfile = (root / "Dockerfile").read_text()
    assert "--workers" not in dockerfile
    assert not re.search(r"^(COPY|ADD) .*(\.joblib|\.pkl|models)", dockerfile, re.MULTILINE)
    deployment = yaml.safe_load((root / "k8s/deployment.yaml").read_text())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    liveness = container["livenessProbe"]["httpGet"]["path"]
    readiness = container["readinessProbe"]["httpGet"]["path"]
    assert (liveness, readiness) == (
        SCENARIOS[name].liveness_path,
        SCENARIOS[name].readiness_path,
    )
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MODEL_VERSION"] == SCENARIOS[name].pinned_model_version
    hpa = yaml.safe_load((root / "k8s/hpa.yaml").read_text())
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_written_app_imports_only_what_requirements_install(written: dict[str, Path]) -> None:
    allowed = {"fastapi", "starlette", "pydantic", "prometheus_client", "numpy", "pandas"}
    allowed |= {"sklearn", "joblib", "infermedic"}
    for root in written.values():
        for path in (root / "app").glob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    top = node.module.split(".")[0]
                elif isinstance(node, ast.Import):
                    top = node.names[0].name.split(".")[0]
                else:
                    continue
                import sys

                assert top in allowed or top in sys.stdlib_module_names, (path, top)


def test_reference_parquet_is_the_training_sample(written: dict[str, Path]) -> None:
    path = written["healthy"] / "data/reference.parquet"
    connection = duckdb.connect()
    [(count, mean_probability, churn_rate)] = connection.execute(
        f"select count(*), avg(churn_probability), avg(churned::int) from '{path}'"
    ).fetchall()
    assert count == len(reference_frame())
    # A calibrated logistic model's mean prediction equals the training base rate.
    assert mean_probability == pytest.approx(churn_rate, abs=0.01)
    columns = [c[0] for c in connection.execute(f"describe select * from '{path}'").fetchall()]
    assert set(FEATURES) | {"churned", "churn_probability"} == set(columns)


def test_write_refuses_a_non_empty_directory_and_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        write_scenario("healthy", tmp_path)
    write_scenario("healthy", tmp_path, overwrite=True)
    assert (tmp_path / "keep.txt").read_text() == "mine"
    with pytest.raises(InputError, match="unknown demo scenario") as info:
        get_scenario("no-such-fault")
    assert info.value.hint is not None and "healthy" in info.value.hint


def test_request_bodies_validate_and_drifted_traffic_is_shifted() -> None:
    reference = request_bodies("healthy", 400, seed=1)
    drifted = request_bodies("input-drift", 400, seed=1)
    assert SCENARIOS["input-drift"].traffic is TrafficProfile.DRIFTED
    for body in reference + drifted:
        Customer(**body)
    assert request_bodies("healthy", 400, seed=1) == reference

    def mean(rows: list[dict[str, object]], key: str) -> float:
        return sum(float(r[key]) for r in rows) / len(rows)  # type: ignore[arg-type]

    assert mean(drifted, "tenure_months") < 0.6 * mean(reference, "tenure_months")
    assert mean(drifted, "monthly_charges") > 1.2 * mean(reference, "monthly_charges")
    assert {"enterprise"} == {r["plan"] for r in drifted} - {r["plan"] for r in reference}
    assert (
        drifted_customers(50, 3)["monthly_charges"].max()
        > reference_frame()["monthly_charges"].max()
    )
