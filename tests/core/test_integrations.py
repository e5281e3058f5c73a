"""The pre-commit hook (.pre-commit-hooks.yaml) and the GitHub Action (action.yml) as a user's
repository runs them: manifests validated, their commands run here on demo repositories.

The action's `uses:` steps (setup-python, upload-sarif) and its install step need GitHub's
runners and the network; the test checks they are wired to the right inputs and outputs, and
runs the action's own shell steps with the checkout's CLI on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from infermedic.demo.repository import write_scenario
from tests.core.test_readme import cli_bin

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads((ROOT / "tests" / "report" / "sarif-schema-2.1.0.json").read_text())


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{cli_bin(tmp_path)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
    }


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("repos")
    return {name: write_scenario(name, base / name) for name in ("healthy", "blocking-predict")}


def test_pre_commit_manifest_is_valid_for_pre_commit() -> None:
    from pre_commit.clientlib import load_manifest

    (hook,) = load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert hook["id"] == "infermedic-audit"
    assert hook["language"] == "python" and hook["pass_filenames"] is False


@pytest.mark.parametrize(("name", "expected"), [("healthy", 0), ("blocking-predict", 1)])
def test_pre_commit_hook_entry_runs_as_pre_commit_would(
    name: str, expected: int, repos: dict[str, Path], tmp_path: Path
) -> None:
    """pre-commit runs `entry` + `args` in the repository root (no file names passed)."""
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    command = [*shlex.split(hook["entry"]), *hook.get("args", [])]
    result = subprocess.run(
        command,
        cwd=repos[name],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == expected, result.stdout + result.stderr
    if expected:
        assert "SVC001" in result.stdout


def _action() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((ROOT / "action.yml").read_text())
    return data


def test_action_is_a_composite_action_wired_to_its_inputs_and_outputs() -> None:
    action = _action()
    assert {"name", "description", "inputs", "outputs", "runs"} <= set(action)
    runs = action["runs"]
    assert isinstance(runs, dict) and runs["using"] == "composite"
    inputs = action["inputs"]
    assert isinstance(inputs, dict)
    text = (ROOT / "action.yml").read_text()
    for used in re.findall(r"\$\{\{[^}]*inputs\.([a-z0-9-]+)", text):
        assert used in inputs, used
    ids = {step.get("id") for step in runs["steps"]}
    for step_id in re.findall(r"steps\.([a-z0-9-]+)\.outputs", text):
        assert step_id in ids, step_id
    for step in runs["steps"]:
        assert ("run" in step) != ("uses" in step), step
        if "run" in step:
            assert step["shell"] == "bash", step  # a composite run step must name its shell
    uses = [step["uses"] for step in runs["steps"] if "uses" in step]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)


def _run_steps(repo: Path, tmp_path: Path, **given: str) -> tuple[dict[str, str], int]:
    """The action's shell steps (install left out: the checkout's CLI is on PATH), with
    `${{ inputs.X }}` and `${{ steps.S.outputs.Y }}` resolved as GitHub would."""
    action = _action()
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}  # type: ignore[union-attr]
    inputs.update(given)
    outputs: dict[str, dict[str, str]] = {}

    def resolve(value: str) -> str:
        value = re.sub(r"\$\{\{\s*inputs\.([a-z0-9-]+)\s*\}\}", lambda m: inputs[m.group(1)], value)
        return re.sub(
            r"\$\{\{\s*steps\.([a-z0-9-]+)\.outputs\.([a-z0-9-]+)\s*\}\}",
            lambda m: outputs.get(m.group(1), {}).get(m.group(2), ""),
            value,
        )

    code = 0
    for step in action["runs"]["steps"]:  # type: ignore[index]
        if "run" not in step or step.get("name") == "Install infermedic":
            continue
        github_output = tmp_path / f"output-{step.get('id', 'x')}"
        github_output.write_text("")
        env = {
            **_env(tmp_path),
            **{k: resolve(str(v)) for k, v in step.get("env", {}).items()},
            "GITHUB_OUTPUT": str(github_output),
            "GITHUB_ACTION_PATH": str(ROOT),
        }
        result = subprocess.run(
            ["bash", "-e", "-c", resolve(step["run"])],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if "id" in step:
            outputs[step["id"]] = dict(
                line.split("=", 1) for line in github_output.read_text().splitlines() if "=" in line
            )
        code = result.returncode
        if code:
            break
    return outputs.get("audit", {}), code


@pytest.mark.parametrize(("name", "expected"), [("healthy", 0), ("blocking-predict", 1)])
def test_action_steps_audit_write_valid_sarif_and_fail_on_findings(
    name: str, expected: int, repos: dict[str, Path], tmp_path: Path
) -> None:
    audit, code = _run_steps(repos[name], tmp_path)
    assert audit["exit-code"] == str(expected)
    assert code == expected  # the last step fails the job when there are findings
    sarif = json.loads((repos[name] / audit["sarif-file"]).read_text())
    jsonschema.validate(sarif, SARIF_SCHEMA)
    rule_ids = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert ("SVC001" in rule_ids) == bool(expected)


def test_action_fail_on_never_reports_without_failing(
    repos: dict[str, Path], tmp_path: Path
) -> None:
    audit, code = _run_steps(repos["blocking-predict"], tmp_path, **{"fail-on": "never"})
    assert (audit["exit-code"], code) == ("0", 0)
