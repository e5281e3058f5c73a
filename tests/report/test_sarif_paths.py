"""SARIF from `audit` of a subfolder: paths relative to the repository root with a
`uriBaseId`, so GitHub code scanning places each result on the right file."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema

from infermedic.demo.repository import write_scenario
from infermedic.report.sarif import DOCS_BASE, PROJECT_URL, SRCROOT

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


def _audit_sarif(directory: Path, target: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "infermedic", "audit", target, "--format", "sarif", "--exit-zero"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_a_subfolder_audit_is_placed_relative_to_the_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    write_scenario("blocking-predict", repo / "services" / "churn")
    for cwd, target in ((repo, "services/churn"), (repo / "services" / "churn", ".")):
        sarif = _audit_sarif(cwd, target)
        jsonschema.validate(sarif, SCHEMA)
        run = sarif["runs"][0]  # type: ignore[index]
        (result,) = [r for r in run["results"] if r["ruleId"] == "SVC001"]
        artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact == {"uri": "services/churn/app/churn.py", "uriBaseId": SRCROOT}, cwd


def test_outside_a_repository_paths_are_relative_to_the_audited_directory(
    tmp_path: Path,
) -> None:
    write_scenario("blocking-predict", tmp_path / "bp")
    sarif = _audit_sarif(tmp_path, "bp")
    jsonschema.validate(sarif, SCHEMA)
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "SVC001"]  # type: ignore[index]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "app/churn.py", "uriBaseId": SRCROOT}


def test_information_and_help_uris_point_at_the_project_and_its_rule_docs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["urls"]["Homepage"] == PROJECT_URL
    assert f"{PROJECT_URL}/blob/main/docs/rules/" == DOCS_BASE
    # every helpUri names a page this repository has
    from infermedic.rules import Registry

    for rule in Registry.default():
        assert (ROOT / "docs" / "rules" / f"{rule.code}.md").is_file(), rule.code
