"""Hostile repository trees: symlinks out of the tree, loops, unreadable directories, code
nested hundreds of levels deep, and a rule that crashes. Real files on disk throughout."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from infermedic.audit import audit
from infermedic.audit.discover import discover
from infermedic.audit.engine import run_audit
from infermedic.audit.project import OUTSIDE_TREE, AuditProject, ProjectRule
from infermedic.audit.python.context import dotted, nesting_depth, unparse
from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.cli.app import main
from infermedic.model import Finding, NotificationLevel, Report, Severity
from infermedic.rules import Registry
from infermedic.settings import Settings

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")

MARKER = "OUTSIDE_MARKER_7f3a"  # in every file outside the tree: must never reach a report

# An async route calling a model synchronously: SVC001 fires on it wherever it is read.
APP = f"""\
import joblib
from fastapi import FastAPI

app = FastAPI()
model = joblib.load("model.joblib")


@app.post("/predict")
async def predict(x: list[float]):
    return model.predict([x])  # {MARKER}
"""
DOCKERFILE = f"FROM python:latest\n# {MARKER}\nCOPY . /app\nCMD python app.py\n"
REQUIREMENTS = f"# {MARKER}\ntorch==2.1.0\nscikit-learn==1.3.2\n"
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: outside  # {MARKER}
spec:
  template:
    spec:
      containers:
        - name: api
          image: svc:latest
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the audited tree, full of files every rule family would flag."""
    place = tmp_path / "outside"
    _write(
        place,
        {
            "app.py": APP,
            "Dockerfile": DOCKERFILE,
            "requirements.txt": REQUIREMENTS,
            "deploy.yaml": DEPLOYMENT,
            "nested/more.py": APP,
        },
    )
    return place


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    _write(root, {"service/main.py": "x = 1\n"})
    return root


def _assert_nothing_from_outside(report: Report, tree: Path) -> None:
    text = json.dumps(
        [
            {
                "path": f.location.path,
                "message": f.message,
                "evidence": [(e.action, e.observed) for e in f.evidence],
                "fix": f.fix,
            }
            for f in report.findings
        ]
    )
    assert MARKER not in text
    for finding in report.findings:
        path = finding.location.path or ""
        assert not path.startswith(("/", "..")), path
        # A name in the tree (a link's own name may be reported, never its target's path).
        assert not os.path.normpath(path).startswith(".."), path
        for evidence in finding.evidence:
            assert "outside" not in evidence.action, evidence.action
            assert "/etc" not in evidence.action and "/etc" not in evidence.observed


def test_links_out_of_the_tree_are_notes_and_never_read(tree: Path, outside: Path) -> None:
    (tree / "etc").symlink_to("/etc", target_is_directory=True)
    (tree / "vendored").symlink_to(outside, target_is_directory=True)
    (tree / "service" / "app.py").symlink_to(outside / "app.py")
    (tree / "Dockerfile").symlink_to(outside / "Dockerfile")
    (tree / "requirements.txt").symlink_to(outside / "requirements.txt")
    (tree / "deploy.yaml").symlink_to(outside / "deploy.yaml")
    (tree / "passwd.yaml").symlink_to("/etc/passwd")

    report = audit([tree], Settings())

    _assert_nothing_from_outside(report, tree)
    assert report.findings == () or all(
        f.location.path and not f.location.path.startswith(("etc", "vendored"))
        for f in report.findings
    )
    assert report.measurements["files"] == 1  # service/main.py, and nothing else
    notes = {n.path: n for n in report.notifications if n.message == OUTSIDE_TREE}
    assert set(notes) == {
        "etc",
        "vendored",
        "service/app.py",
        "Dockerfile",
        "requirements.txt",
        "deploy.yaml",
        "passwd.yaml",
    }
    assert all(n.level is NotificationLevel.WARNING for n in notes.values())


def test_requirement_includes_out_of_the_tree_are_not_followed(tree: Path, outside: Path) -> None:
    _write(
        tree,
        {
            "requirements.txt": "-r /etc/passwd\n-r ../outside/requirements.txt\n"
            "-r base.txt\nrequests>=2\n",
            "base.txt": "fastapi>=0.100\n",
        },
    )
    (tree / "linked.txt").symlink_to(outside / "requirements.txt")
    (tree / "requirements-extra.txt").write_text("-r linked.txt\n", encoding="utf-8")

    report = audit([tree], Settings(select=("PKG001",)))

    _assert_nothing_from_outside(report, tree)
    assert report.findings == ()  # torch==2.1.0 lives only outside the tree
    messages = [n.message for n in report.notifications]
    assert "`-r /etc/passwd` points outside the tree: not followed" in messages
    assert "`-r ../outside/requirements.txt` points outside the tree: not followed" in messages
    assert "`-r linked.txt` points outside the tree: not followed" in messages


def test_a_tracked_state_file_linking_out_is_not_read(tree: Path, outside: Path) -> None:
    state = {"resources": [{"type": "aws_db_instance", "password": MARKER}] * 3}
    (outside / "prod.tfstate").write_text(json.dumps(state), encoding="utf-8")
    (tree / "prod.tfstate").symlink_to(outside / "prod.tfstate")
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    subprocess.run(["git", "-C", str(tree), "add", "-A"], check=True)

    report = audit([tree], Settings(select=("REP001",)))

    _assert_nothing_from_outside(report, tree)
    state_findings = [f for f in report.findings if "prod.tfstate" in f.message]
    assert state_findings, "the tracked name alone is still a finding"
    assert all("3 resource" not in f.message for f in state_findings)
    assert any(n.path == "prod.tfstate" and n.message == OUTSIDE_TREE for n in report.notifications)


def test_links_inside_the_tree_are_walked_once(tree: Path) -> None:
    _write(tree, {"src/app.py": APP.replace(MARKER, "inside")})
    (tree / "lib").symlink_to(tree / "src", target_is_directory=True)  # a second way in
    (tree / "app_link.py").symlink_to(tree / "src" / "app.py")

    report = audit([tree], Settings(select=("SVC001",)))

    assert [f.location.path for f in report.findings] == ["src/app.py"]  # the real path
    by_path = {n.path: n.message for n in report.notifications}
    assert "already visited as 'src'" in by_path["lib"]
    assert "same file as 'src/app.py'" in by_path["app_link.py"]


def test_loops_between_directories_end(tree: Path) -> None:
    _write(tree, {"a/one.py": "x = 1\n", "b/two.py": "y = 2\n"})
    (tree / "a" / "to_b").symlink_to(tree / "b", target_is_directory=True)
    (tree / "b" / "to_a").symlink_to(tree / "a", target_is_directory=True)
    (tree / "a" / "self").symlink_to(tree / "a", target_is_directory=True)
    (tree / "dangling.py").symlink_to(tree / "missing.py")

    found = discover([tree])

    assert [f.relpath for f in found.files] == ["a/one.py", "b/two.py", "service/main.py"]
    by_path = {n.path: n.message for n in found.notifications}
    assert {"a/to_b", "b/to_a", "a/self"} <= set(by_path)
    assert all("already visited" in by_path[p] for p in ("a/to_b", "b/to_a", "a/self"))
    assert by_path["dangling.py"] == "broken link: not followed"


def test_a_named_root_that_is_itself_a_link_is_audited(tmp_path: Path, tree: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(tree, target_is_directory=True)
    found = discover([alias])
    assert [f.relpath for f in found.files] == ["service/main.py"]
    assert not found.notifications


_UNREADABLE_SCRIPT = """
import json, os, sys
from pathlib import Path
from infermedic.audit import audit
from infermedic.settings import Settings
root = Path(sys.argv[1])
audit([root], Settings())  # load every rule module while imports can still be read
if os.geteuid() == 0:
    # root reads a mode-000 directory anyway: drop to `nobody` so that the kernel refuses
    os.setgid(65534)
    os.setgroups([])
    os.setuid(65534)
report = audit([root], Settings())
print(json.dumps([[n.path, n.level.value, n.message] for n in report.notifications]))
print(json.dumps(report.measurements["files"]))
"""


def test_an_unreadable_directory_is_a_note_not_silence() -> None:
    # A real permission failure: the tree sits in a world-traversable temp directory and the
    # audit runs in a child process that is not root (the test suite runs as root, which
    # chmod 000 does not stop).
    with tempfile.TemporaryDirectory(dir="/tmp") as name:
        root = Path(name)
        root.chmod(0o755)
        _write(root, {"ok.py": "x = 1\n", "locked/app.py": APP, "secret.py": "y = 2\n"})
        (root / "ok.py").chmod(0o644)
        (root / "locked").chmod(0o000)
        (root / "secret.py").chmod(0o000)
        try:
            completed = subprocess.run(
                [sys.executable, "-c", _UNREADABLE_SCRIPT, str(root)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                cwd="/",
            )
        finally:
            (root / "locked").chmod(0o755)
    assert completed.returncode == 0, completed.stderr
    notes_line, files_line = completed.stdout.strip().splitlines()[-2:]
    notes = {path: (level, message) for path, level, message in json.loads(notes_line)}
    assert notes["locked"] == (
        "warning",
        "cannot read directory: Permission denied; its files were not audited",
    )
    assert notes["secret.py"][1] == "cannot read file: Permission denied"
    assert json.loads(files_line) == 2  # ok.py is listed, and so is secret.py (unreadable)


def _chain(depth: int) -> str:
    return "features" + ".part" * depth


def test_a_350_deep_attribute_chain_is_analysed_not_crashed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = _chain(350)
    nested_sum = " + ".join(["x"] * 350)
    _write(
        tmp_path,
        {
            "app.py": textwrap.dedent(
                f"""\
                import joblib
                from fastapi import FastAPI

                app = FastAPI()
                model = joblib.load("model.joblib")


                @app.post("/predict")
                async def predict(x: list[float]):
                    total = {nested_sum}
                    return model.predict({deep})
                """
            )
        },
    )
    report = audit([tmp_path], Settings())
    assert report.measurements["status"] == "complete"
    assert report.measurements["rules_failed"] == []
    assert not [n for n in report.notifications if n.level is NotificationLevel.ERROR]
    (blocking,) = [f for f in report.findings if f.code == "SVC001"]
    assert len(blocking.fix) < 600  # the 2,800-character argument is shortened in the fix

    with pytest.raises(SystemExit) as exited:
        main(["audit", str(tmp_path), "--select", "SVC001", "--format", "json"])
    assert exited.value.code == 1  # a finding, not a crash (2) and not "No findings" (0)
    assert [f["code"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["SVC001"]


def test_code_nested_past_the_limit_is_a_note(tmp_path: Path) -> None:
    _write(tmp_path, {"deep.py": f"y = {_chain(1500)}\n", "huge.py": f"y = {_chain(6000)}\n"})
    report = audit([tmp_path], Settings())
    by_path = {n.path: n for n in report.notifications}
    assert "nested more than 1,000 levels deep" in by_path["deep.py"].message
    assert "cannot parse" in by_path["huge.py"].message
    assert report.measurements["status"] == "complete"


def test_helpers_do_not_recurse_on_deep_trees() -> None:
    expr = ast.parse(_chain(5000 // 3), mode="eval").body
    assert dotted(expr).count(".part") == 5000 // 3
    assert nesting_depth(expr) == 5000 // 3 + 2  # the chain, the name, its Load context
    assert nesting_depth(expr, stop=10) == 11
    short = unparse(expr)
    assert len(short) <= 161 and "…" in short
    assert unparse(ast.parse("a.b(c)", mode="eval").body) == "a.b(c)"


class _DeepRecursion(PythonRule):
    """
    ## What it does
    Recurses without end on every call it sees: a rule with a bug.

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

    code = "TST101"
    name = "deep-recursion"
    severity = Severity.LOW
    summary = "Recurses forever."
    node_types = (ast.Call,)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        def down(n: int) -> int:
            return down(n + 1)

        down(0)
        return iter(())


class _BrokenProject(ProjectRule):
    __doc__ = _DeepRecursion.__doc__
    code = "TST102"
    name = "broken-project"
    severity = Severity.LOW
    summary = "Raises."

    def check(self, project: AuditProject) -> Iterator[Finding]:
        raise KeyError("spec")


def _registry() -> Registry:
    return Registry((*Registry.default().rules, _DeepRecursion, _BrokenProject))


def test_a_crashed_rule_makes_the_report_partial(tmp_path: Path) -> None:
    _write(tmp_path, {"app.py": APP})
    report = run_audit([tmp_path], Settings(select=("SVC001", "TST")), registry=_registry())
    assert [f.code for f in report.findings] == ["SVC001"]  # the other rules still ran
    assert report.measurements["status"] == "partial"
    assert report.measurements["rules_failed"] == ["TST101", "TST102"]
    errors = {n.rule: n.message for n in report.notifications}
    assert "RecursionError" in errors["TST101"]
    assert "KeyError" in errors["TST102"]


def test_a_crashed_rule_exits_2_with_the_report_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rule double: after the depth fixes no real file crashes a shipped rule any more, so
    # the crash is a rule that recurses without end, added to the catalogue for this test.
    _write(tmp_path, {"app.py": APP})
    registry = _registry()
    monkeypatch.setattr(Registry, "default", classmethod(lambda cls: registry))
    with pytest.raises(SystemExit) as exited:
        main(["audit", str(tmp_path), "--select", "TST101", "--format", "json"])
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert "TST101" in err and "audit incomplete" in err
    data = json.loads(out)  # the report is still whole
    assert data["findings"] == []
    assert any(n["rule"] == "TST101" and n["level"] == "error" for n in data["notifications"])

    with pytest.raises(SystemExit) as exited:
        main(["audit", str(tmp_path), "--select", "TST101", "--exit-zero", "--format", "json"])
    assert exited.value.code == 0
