"""The audit engine: discovery, isolation of bad files and crashing rules, suppressions."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infermedic.audit import audit
from infermedic.audit.discover import classify, discover
from infermedic.audit.engine import run_audit
from infermedic.audit.project import AuditProject, FileKind, ProjectRule
from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.errors import ConfigError, InputError
from infermedic.model import Finding, NotificationLevel, Severity
from infermedic.rules import Registry
from infermedic.settings import Settings

BLOCKING = """\
import joblib
from fastapi import FastAPI

app = FastAPI()
model = joblib.load("m.joblib")


@app.post("/predict")
async def predict(x: list[float]):
    return model.predict([x]){comment}
"""


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for relpath, content in files.items():
        target = root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


def svc001(root: Path) -> list[Finding]:
    return list(audit([root], Settings(select=("SVC001",))).findings)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Dockerfile", FileKind.DOCKERFILE),
        ("Dockerfile.prod", FileKind.DOCKERFILE),
        ("api.dockerfile", FileKind.DOCKERFILE),
        ("Containerfile", FileKind.DOCKERFILE),
        ("deploy.yaml", FileKind.YAML),
        ("alerts.yml", FileKind.YAML),
        ("requirements-dev.txt", FileKind.REQUIREMENTS),
        ("constraints.txt", FileKind.REQUIREMENTS),
        ("pyproject.toml", FileKind.PYPROJECT),
        ("setup.cfg", FileKind.PYPROJECT),
        ("Pipfile", FileKind.PYPROJECT),
        ("environment.yml", FileKind.PYPROJECT),
        ("Procfile", FileKind.PROCFILE),
        ("terraform.tfstate", FileKind.TERRAFORM_STATE),
        ("terraform.tfstate.backup", FileKind.TERRAFORM_STATE),
        ("main.py", FileKind.PYTHON),
        ("notes.txt", FileKind.OTHER),
    ],
)
def test_classify(name: str, kind: FileKind) -> None:
    assert classify(name) is kind


def test_discovery_skips_environments_and_caches(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/main.py": "x = 1\n",
            ".venv/lib/site.py": "x = 1\n",
            "node_modules/pkg/index.py": "x = 1\n",
            "app/__pycache__/main.py": "x = 1\n",
            "lib/site-packages/dep.py": "x = 1\n",
            ".git/hooks/pre.py": "x = 1\n",
            "pkg.egg-info/setup.py": "x = 1\n",
        },
    )
    found = discover([tmp_path])
    assert [f.relpath for f in found.files] == ["app/main.py"]


def test_exclude_patterns_from_settings(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"app/main.py": BLOCKING.format(comment=""), "legacy/old.py": BLOCKING.format(comment="")},
    )
    report = audit([tmp_path], Settings(select=("SVC001",), exclude=("legacy/*",)))
    assert [f.location.path for f in report.findings] == ["app/main.py"]


def test_nonexistent_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        audit([tmp_path / "missing"])


def test_empty_directory_gives_a_note_and_no_findings(tmp_path: Path) -> None:
    report = audit([tmp_path])
    assert report.findings == ()
    assert [n.message for n in report.notifications] == [
        "no files to audit under the given path(s)"
    ]


def test_syntax_error_binary_and_non_utf8_are_notes_and_the_scan_goes_on(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "broken.py": "def predict(:\n",
            "binary.py": b"\x00\x01\x02import os\n",
            "latin.py": "x = 'caf\xe9'\n".encode("latin-1"),
            "declared.py": "# -*- coding: latin-1 -*-\nx = 'caf\xe9'\n".encode("latin-1"),
            "deploy.yaml": b"\xc3\x28 bad",
            "app.py": BLOCKING.format(comment=""),
        },
    )
    report = audit([tmp_path], Settings(select=("SVC001",)))
    assert [f.location.path for f in report.findings] == ["app.py"]
    by_path = {n.path: n.message for n in report.notifications}
    assert "cannot parse" in by_path["broken.py"] and "line 1" in by_path["broken.py"]
    assert "binary" in by_path["binary.py"]
    assert "latin.py" in by_path
    assert "declared.py" not in by_path  # a PEP 263 cookie is honoured
    assert "UTF-8" in by_path["deploy.yaml"]
    assert all(n.level is NotificationLevel.WARNING for n in report.notifications)


def test_huge_file_is_skipped_with_a_note(tmp_path: Path) -> None:
    write(tmp_path, {"generated.py": "x = 1\n" * 100, "app.py": BLOCKING.format(comment="")})
    settings = Settings(select=("SVC001",), engine_options={"audit": {"max-file-bytes": 400}})
    report = audit([tmp_path], settings)
    assert [f.location.path for f in report.findings] == ["app.py"]
    (note,) = report.notifications
    assert note.path == "generated.py" and "600 bytes is over the 400-byte limit" in note.message


def test_invalid_size_cap_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        audit([tmp_path], Settings(engine_options={"audit": {"max-file-bytes": "big"}}))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loop_is_reported_once_and_not_followed(tmp_path: Path) -> None:
    write(tmp_path, {"app/main.py": BLOCKING.format(comment="")})
    (tmp_path / "app" / "loop").symlink_to(tmp_path, target_is_directory=True)
    report = audit([tmp_path], Settings(select=("SVC001",)))
    assert [f.location.path for f in report.findings] == ["app/main.py"]
    assert any("symlink loop" in n.message for n in report.notifications)


def test_tracked_files_come_from_git(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "x = 1\n", "untracked.py": "y = 2\n"})
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "app.py"], check=True)
    assert discover([tmp_path]).tracked_files == ("app.py",)
    assert discover([tmp_path / "app.py"]).tracked_files == ("app.py",)


def test_not_a_git_repo_has_no_tracked_files(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "x = 1\n"})
    assert discover([tmp_path]).tracked_files is None


class _CrashingPython(PythonRule):
    """
    ## What it does
    Checks nothing; raises.

    ## Why is this bad?
    It is a test double.

    ## Example
    ```python
    x = 1
    ```

    Use instead:
    ```python
    x = 2
    ```
    """

    code = "TST001"
    name = "crashing-python"
    severity = Severity.LOW
    summary = "Raises on every call."
    node_types = (__import__("ast").Call,)

    def check(self, node: object, scope: Scope) -> Iterator[Finding]:
        raise RuntimeError("boom")


class _CrashingProject(ProjectRule):
    __doc__ = _CrashingPython.__doc__
    code = "TST002"
    name = "crashing-project"
    severity = Severity.LOW
    summary = "Raises."

    def check(self, project: AuditProject) -> Iterator[Finding]:
        raise ValueError("bad manifest")


def test_a_crashing_rule_becomes_a_notification_naming_it(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": BLOCKING.format(comment="")})
    registry = Registry((*Registry.default().rules, _CrashingPython, _CrashingProject))
    report = run_audit([tmp_path], Settings(select=("SVC001", "TST")), registry=registry)
    assert [f.code for f in report.findings] == ["SVC001"]
    errors = {n.rule: n for n in report.notifications}
    assert errors["TST001"].level is NotificationLevel.ERROR
    assert "RuntimeError: boom" in errors["TST001"].message
    assert errors["TST001"].path == "app.py"
    assert "ValueError: bad manifest" in errors["TST002"].message


def test_routes_are_shared_with_project_rules(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": BLOCKING.format(comment="")})
    report = audit([tmp_path], Settings(select=("SVC001",)))
    assert report.measurements["routes"] == [
        {
            "method": "POST",
            "path": "/predict",
            "handler": "app.predict",
            "file": "app.py",
            "line": 9,
            "async": True,
            "framework": "fastapi",
        }
    ]


def test_evidence_carries_the_source_line(tmp_path: Path) -> None:
    write(tmp_path, {"app/main.py": BLOCKING.format(comment="")})
    (finding,) = svc001(tmp_path)
    source = finding.evidence[0]
    assert source.action == "app/main.py:10"
    assert source.observed == "return model.predict([x])"
    assert (
        finding.fix == "`await run_in_threadpool(model.predict, [x])`, or declare the route "
        "with plain `def`"
    )
    assert finding.checklist == ("D-03",)


@pytest.mark.parametrize(
    "comment",
    [
        "  # infermedic: ignore[SVC001]",
        "  # infermedic: ignore",
        "  # infermedic: ignore[SVC]",
        "  # noqa: SVC001",
        "  # infermedic: ignore=SVC001,SVC003",
    ],
)
def test_line_suppressions(tmp_path: Path, comment: str) -> None:
    write(tmp_path, {"app.py": BLOCKING.format(comment=comment)})
    report = audit([tmp_path], Settings(select=("SVC001",)))
    assert report.findings == ()
    assert report.notifications == ()


def test_own_line_file_and_range_suppressions(tmp_path: Path) -> None:
    own_line = BLOCKING.format(comment="").replace(
        "    return model", "    # infermedic: ignore[SVC001]\n    return model"
    )
    ranged = (
        "# infermedic: disable[SVC001]\n"
        + BLOCKING.format(comment="")
        + "# infermedic: enable[SVC001]\n"
    )
    whole = "# infermedic: noqa[SVC001]\n" + BLOCKING.format(comment="")
    write(tmp_path, {"a.py": own_line, "b.py": ranged, "c.py": whole})
    report = audit([tmp_path], Settings(select=("SVC001",)))
    assert report.findings == ()
    assert report.notifications == ()


def test_unused_and_other_rule_suppressions(tmp_path: Path) -> None:
    source = (
        BLOCKING.format(comment="  # infermedic: ignore[SVC003]")
        + "x = 1  # infermedic: ignore[SVC001]\ny = 2  # infermedic: ignore[PKG001]\n"
        's = "# infermedic: ignore[SVC001] inside a string"\n'
    )
    write(tmp_path, {"app.py": source})
    report = audit([tmp_path], Settings(select=("SVC001", "SVC003")))
    assert [f.location.line for f in report.findings] == [10]  # SVC003's comment does not hide it
    messages = sorted(n.message for n in report.notifications)
    assert messages == [
        "line 10: unused suppression `# infermedic: ignore[SVC003]`",
        "line 11: unused suppression `# infermedic: ignore[SVC001]`",
    ]  # PKG001 did not run, and a string is not a comment


def test_yaml_suppression(tmp_path: Path) -> None:
    alerts = (
        "groups:\n  - name: x\n    rules:\n      # infermedic: ignore[MON002]\n"
        "      - alert: Slow\n        expr: rate(x[5m]) > 1\n"
    )
    write(tmp_path, {"alerts.yaml": alerts})
    assert audit([tmp_path], Settings(select=("MON002",))).findings == ()
    write(tmp_path, {"alerts.yaml": alerts.replace("      # infermedic: ignore[MON002]\n", "")})
    (finding,) = audit([tmp_path], Settings(select=("MON002",))).findings
    assert finding.location.line == 4


def test_findings_are_sorted_and_report_is_complete(tmp_path: Path) -> None:
    write(tmp_path, {"b.py": BLOCKING.format(comment=""), "a.py": BLOCKING.format(comment="")})
    report = audit([tmp_path], Settings(select=("SVC001", "SVC010")))
    assert [(f.code, f.location.path) for f in report.findings] == [
        ("SVC001", "a.py"),
        ("SVC001", "b.py"),
        ("SVC010", "a.py"),
    ]
    assert report.rules_run == ("SVC001", "SVC010")
    assert report.tool == "audit" and report.duration_s is not None


def test_progress_callback_sees_every_python_file(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 1\n", "deploy.yaml": "a: 1\n"})
    calls: list[tuple[int, int, str]] = []
    audit([tmp_path], progress=lambda done, total, path: calls.append((done, total, path)))
    assert calls == [(1, 2, "a.py"), (2, 2, "b.py")]


def test_files_a_project_rule_skipped_are_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "deploy/broken.yaml": "kind: Deployment\nspec: [\n",
            "requirements.txt": "torch==2.3.0\n",
            "pyproject.toml": "[project\nname = 'x'\n",
        },
    )
    report = audit([tmp_path], Settings(select=("K8S003", "PKG001")))
    skipped = {n.path: n for n in report.notifications}
    assert set(skipped) == {"deploy/broken.yaml", "pyproject.toml"}
    assert skipped["pyproject.toml"].message.startswith("skipped: cannot parse dependency file")
    assert [f.code for f in report.findings] == ["PKG001"]  # the readable file is still read


def test_a_badly_typed_rule_option_stops_the_run(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "torch==2.3.0\n"})
    settings = Settings(select=("PKG001",), rule_options={"PKG001": {"packages": "torch"}})
    with pytest.raises(ConfigError, match="PKG001.*must be a list"):
        audit([tmp_path], settings)
