"""Helpers for the fix tests: run the real CLI, audit, run a generated test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from infermedic.audit import audit
from infermedic.model import Finding


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real entry point in a subprocess, as a user runs it.

    `fix` appends to `ops/audit.jsonl` under the working directory by default. A test that
    names no directory would run it in the checkout and write the project's own `ops/`, so
    its log goes to a temporary directory instead (a test that checks the default location
    passes `cwd`)."""
    if cwd is None and args and args[0] == "fix" and "--audit-log" not in args:
        log = Path(tempfile.mkdtemp(prefix="infermedic-fix-log-")) / "audit.jsonl"
        args = (*args, "--audit-log", str(log))
    return subprocess.run(
        [sys.executable, "-m", "infermedic", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def findings(root: Path, code: str) -> list[Finding]:
    return [f for f in audit([root]).findings if f.code == code]


def apply_with_tests(repo: Path, code: str, log: Path) -> subprocess.CompletedProcess[str]:
    """`infermedic fix REPO --select CODE --apply --tests`, logging to `log`."""
    return run_cli(
        "fix", str(repo), "--audit-log", str(log), "--select", code, "--apply", "--tests"
    )


def generated_test(repo: Path, code: str) -> str:
    """The one regression test `fix --tests` wrote for `code`, relative to the repo."""
    (test,) = (repo / "tests/regression").glob(f"test_{code.lower()}_*.py")
    return str(test.relative_to(repo))


def run_elsewhere(repo: Path, test: str, root: Path) -> subprocess.CompletedProcess[str]:
    """Run the repo's generated `test` in another tree (the code before the fix)."""
    (root / test).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / test, root / test)
    return run_pytest(root, test)


def run_pytest(root: Path, test: str) -> subprocess.CompletedProcess[str]:
    """Run one generated regression test inside the user's repo."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=root,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def imports(root: Path, module: str) -> subprocess.CompletedProcess[str]:
    """Import `module` from `root` in a fresh interpreter (the fixed code must load)."""
    return subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=root,
        env={**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
    )


def git_status(root: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def log_entries(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_python(root: Path, script: str, where: str = ".") -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter in `root / where` (the fixed code must serve)."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=root / where,
    )
