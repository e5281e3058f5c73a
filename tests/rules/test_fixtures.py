"""Every rule fixture: audit it with only the rule its name names, compare findings exactly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from infermedic.audit import audit
from infermedic.model import NotificationLevel
from infermedic.settings import Settings
from tests.expect import (
    compare,
    fixture_code,
    fixture_options,
    fixture_path,
    is_ok_fixture,
    parse_expectations,
    parse_expected_list,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# The file-rule domains (dockerfile, k8s, deps, repo) run through their own runner in
# tests/audit/files/ (it fakes routes and git tracking from a sidecar file); the same
# `# expect:` grammar from tests/expect.py applies there.
DOMAINS = ("python",)


def _fixtures() -> list[Path]:
    found = []
    for domain in DOMAINS:
        directory = FIXTURES / domain
        if directory.is_dir():
            found += [p for p in sorted(directory.iterdir()) if fixture_code(p.name)]
    return found


def audited_name(fixture: Path, text: str) -> str:
    """The name a single-file fixture is audited under: its `# fixture-path:` or a name that
    the rules of its domain read (`Dockerfile`, `deploy.yaml`, `requirements.txt`…)."""
    declared = fixture_path(text)
    if declared:
        return declared
    name, domain = fixture.name, fixture.parent.name
    lower = name.lower()
    if lower.endswith(".dockerfile") or "dockerfile" in lower or "containerfile" in lower:
        return "Dockerfile"
    if lower.endswith((".yaml", ".yml")):
        return "deploy.yaml" if domain == "k8s" else name
    if lower.endswith(".txt"):
        return "requirements.txt"
    if lower.endswith(".toml"):
        return "pyproject.toml"
    if lower.endswith(".cfg"):
        return "setup.cfg"
    if lower.endswith(".json"):
        return "metrics.json"
    if lower.endswith(".procfile") or lower.endswith("procfile"):
        return "Procfile"
    if ".tfstate" in lower:
        return "terraform.tfstate"
    return name


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


@pytest.mark.parametrize("fixture", _fixtures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(fixture: Path, tmp_path: Path) -> None:
    code = fixture_code(fixture.name)
    assert code is not None
    root = tmp_path / "project"
    expectations = []
    options: dict[str, object] = {}
    if fixture.is_dir():
        shutil.copytree(fixture, root)
        listed = root / "expected.txt"
        if listed.exists():
            expectations += parse_expected_list(listed.read_text(encoding="utf-8"))
            listed.unlink()
        if (root / ".git-init").exists():
            (root / ".git-init").unlink()
            subprocess.run(["git", "init", "-q", str(root)], check=True)
            subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            text = _read(path)
            if text is None:
                continue
            relpath = path.relative_to(root).as_posix()
            options |= fixture_options(text)
            expectations += parse_expectations(
                text, relpath, own_line_only=path.name == "Dockerfile"
            )
    else:
        text = fixture.read_text(encoding="utf-8")
        name = audited_name(fixture, text)
        target = root / name
        target.parent.mkdir(parents=True)
        target.write_text(text, encoding="utf-8")
        options = fixture_options(text)
        expectations = parse_expectations(text, name, own_line_only=target.name == "Dockerfile")
    report = audit([root], Settings(select=(code,), rule_options={code: options}))
    errors = [n for n in report.notifications if n.level is NotificationLevel.ERROR]
    assert not errors, errors
    if is_ok_fixture(fixture.name):
        assert not expectations, f"{fixture.name} is an _ok fixture but expects findings"
    else:
        assert expectations, f"{fixture.name} expects nothing: mark its findings or name it *_ok"
    problems = compare(expectations, report.findings)
    assert not problems, "\n".join(problems)
