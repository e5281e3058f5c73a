"""The version-mismatch scenario with a real MLflow registry (the `registry` extra), and what
it does without mlflow.

The live test builds the registry for real (SQLite backend, seeded sklearn runs, versions
1..4, @champion moved from 3 to 4), serves the scenario from it and diagnoses it; only "the
fault shows" and "the registry's evidence is in the report" are checked here, the MON009
verdicts are unit-tested on recorded registry answers (tests/registry/test_rules.py).

The no-mlflow test makes `import mlflow` fail the way a missing package does (None in
`sys.modules`, which Python answers with ImportError), since mlflow is installed here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from infermedic.demo import mlflow_registry
from infermedic.demo.diagnosing import write_reports
from infermedic.demo.runner import prepare_registry, run_scenario
from infermedic.demo.scenarios import get_scenario
from infermedic.diagnose.replay import judge


def test_without_mlflow_the_scenario_is_unchanged_and_the_report_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` -> ImportError
    assert mlflow_registry.mlflow_missing() == "mlflow is not installed"
    scenario = get_scenario("version-mismatch")
    said: list[str] = []
    served, registry, notes = prepare_registry(scenario, tmp_path, said.append)
    assert served is scenario and registry is None
    assert not (tmp_path / "registry").exists()  # nothing built
    (note,) = notes
    assert "real MLflow registry part was skipped (mlflow is not installed)" in note.message
    assert "pip install 'infermedic[registry]'" in note.message
    assert said == [f"  {note.message}"]
    # the note reaches every written report
    diagnosis = judge(scenario.symptom, [], inputs={}, started_at=None, duration_s=None)
    write_reports(diagnosis, tmp_path / "reports", notes=notes)
    for suffix in ("md", "json", "html"):
        text = (tmp_path / "reports" / f"report.{suffix}").read_text(encoding="utf-8")
        assert "infermedic[registry]" in text, suffix
    # other scenarios have no registry part, with or without mlflow
    other = get_scenario("global-lock")
    assert prepare_registry(other, tmp_path, said.append) == (other, None, [])


def test_the_mlflow_service_module_replaces_only_the_registry_module() -> None:
    scenario = get_scenario("version-mismatch")
    served = mlflow_registry.with_mlflow_registry(scenario)
    assert dict(served.modules)["registry_mlflow"] == "app/registry.py"
    assert "registry" not in dict(served.modules)
    assert [p for _, p in served.modules] == [p for _, p in scenario.modules]
    assert served.expected_codes == scenario.expected_codes


@pytest.mark.server
@pytest.mark.slow
def test_the_scenario_on_a_real_registry_is_root_caused_to_the_alias_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mlflow_registry.mlflow_missing() is not None:
        pytest.fail("this test needs the registry extra: pip install -e '.[registry]'")
    monkeypatch.setenv("INFERMEDIC_CACHE_DIR", str(tmp_path / "cache"))  # not the user's cache
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    outcome = run_scenario(get_scenario("version-mismatch"), tmp_path / "demo")
    assert outcome.error is None, outcome.error
    assert outcome.expected_cause == "registry-alias-moved"
    assert outcome.found_cause == "registry-alias-moved", outcome.found_title
    assert "registry" in outcome.sources
    # the registry's own record of the version @champion moved to, as evidence
    from infermedic.registry import RegistryClient
    from infermedic.registry.records import iso

    registry_dir = tmp_path / "demo" / "version-mismatch" / "registry"
    client = RegistryClient(
        tracking_uri=f"sqlite:///{(registry_dir / 'mlflow.db').resolve()}",
        cache=tmp_path / "cache",
    )
    snap = client.snapshot("churn", "champion", extra_versions=["3"])
    assert snap.alias_version == "4"
    # the logged libraries came from this registry (models:/ downloads asked it, not a new
    # default ./mlflow.db in the working directory)
    assert all("scikit-learn" in v.libraries for v in snap.versions if v.version in ("3", "4"))
    assert not (tmp_path / "mlflow.db").exists()
    assert [v.version for v in snap.versions] == ["4", "3", "2", "1"]
    v4 = snap.target
    assert v4 is not None and v4.creation_ms is not None
    report = json.loads((tmp_path / "demo" / "version-mismatch" / "report.json").read_text())
    mon009 = [f for f in report["findings"] if f["code"] == "MON009"]
    assert len(mon009) == 1
    assert "the service follows @champion, which points to churn v4" in mon009[0]["message"]
    assert iso(v4.creation_ms) in mon009[0]["message"]
    evidence = json.dumps(mon009[0]["evidence"])
    assert iso(v4.creation_ms) in evidence and '"version": "3"' in evidence
    # the service really serves what the registry's alias points to, against the pin
    live007 = [f for f in report["findings"] if f["code"] == "LIVE007"]
    assert live007 and "4" in live007[0]["message"]
    assert not any("registry part was skipped" in n["message"] for n in report["notifications"])
