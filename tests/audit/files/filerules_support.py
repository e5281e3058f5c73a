"""Build `AuditProject`s from fixture files and compare a rule's findings with the inline
`# expect: CODE` comments (a local stand-in for the shared `tests/expect.py` runner)."""

from __future__ import annotations

import re
import shutil
import tomllib
from collections import Counter
from pathlib import Path

from infermedic.audit.project import AuditProject, FileKind, Route, SourceFile
from infermedic.model import Finding
from infermedic.rules import Rule
from infermedic.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SIDECAR = "infermedic-fixture.toml"
# `<CODE>[_variant].<canonical name>` fixture files are copied under the canonical name.
CANONICAL = {
    "dockerfile", "procfile", "pipfile", "pyproject.toml", "setup.cfg", "environment.yml",
    "requirements.txt", "requirements-dev.txt", "constraints.txt", "gunicorn.conf.py",
}  # fmt: skip
_FIXTURE_NAME = re.compile(r"^([A-Z][A-Z0-9]{1,4}\d{3})((?:_[A-Za-z0-9]+)*)\.(.+)$")
_EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+?)\s*(?:#.*)?$")
_EXPECT_FILE = re.compile(r"#\s*expect-file:\s*([A-Z0-9, ]+?)\s*$")


def classify(relpath: str) -> FileKind:
    name = Path(relpath).name
    lower = name.lower()
    if lower == "dockerfile" or lower.endswith(".dockerfile") or lower.startswith("dockerfile."):
        return FileKind.DOCKERFILE
    if lower in ("environment.yml", "environment.yaml", "pyproject.toml", "setup.cfg", "pipfile"):
        return FileKind.PYPROJECT
    if lower.endswith((".yaml", ".yml")):
        return FileKind.YAML
    if lower.endswith((".txt", ".in")) and ("requirement" in relpath or "constraint" in lower):
        return FileKind.REQUIREMENTS
    if lower == "procfile" or lower.endswith(".procfile"):
        return FileKind.PROCFILE
    if lower.endswith(".py"):
        return FileKind.PYTHON
    if ".tfstate" in lower:
        return FileKind.TERRAFORM_STATE
    return FileKind.OTHER


def make_project(
    root: Path,
    *,
    routes: tuple[Route, ...] = (),
    tracked: tuple[str, ...] | None = None,
    settings: Settings | None = None,
) -> AuditProject:
    """A project of every file under `root` (sidecar excluded), classified by name."""
    files = tuple(
        SourceFile(
            path=p,
            relpath=p.relative_to(root).as_posix(),
            kind=classify(p.relative_to(root).as_posix()),
        )
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != SIDECAR
    )
    return AuditProject(
        root=root,
        files=files,
        routes=routes,
        tracked_files=tracked,
        settings=settings or Settings(),
    )


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    for relpath, content in files.items():
        target = root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


def routes_from(entries: list[str]) -> tuple[Route, ...]:
    """`"GET /health"` → a `Route` in a stand-in `app/main.py`."""
    found = []
    for number, entry in enumerate(entries, start=1):
        method, path = entry.split(" ", 1)
        found.append(
            Route(
                method=method,
                path=path,
                handler=f"app.main.h{number}",
                is_async=True,
                file="app/main.py",
                line=number,
            )
        )
    return tuple(found)


def fixture_code(fixture: Path) -> str:
    match = _FIXTURE_NAME.match(fixture.name) or re.match(
        r"^([A-Z][A-Z0-9]{1,4}\d{3})", fixture.name
    )
    assert match is not None, f"fixture {fixture} is not named <CODE>[_variant]"
    return match.group(1)


def project_for_fixture(fixture: Path, tmp_path: Path) -> AuditProject:
    """Copy a fixture file (under its canonical name) or a fixture directory into `tmp_path`."""
    root = tmp_path / "project"
    sidecar: dict[str, object] = {}
    if fixture.is_dir():
        shutil.copytree(fixture, root)
        if (root / SIDECAR).is_file():
            sidecar = tomllib.loads((root / SIDECAR).read_text(encoding="utf-8"))
    else:
        root.mkdir()
        match = _FIXTURE_NAME.match(fixture.name)
        rest = match.group(3) if match else fixture.name
        name = rest if rest.lower() in CANONICAL else fixture.name
        shutil.copy(fixture, root / name)
    routes = routes_from(list(sidecar.get("routes", [])))  # type: ignore[call-overload]
    tracked = sidecar.get("tracked")
    options = sidecar.get("options")
    settings = Settings(rule_options={fixture_code(fixture): options}) if options else None
    return make_project(
        root,
        routes=routes,
        tracked=tuple(tracked) if isinstance(tracked, list) else None,
        settings=settings,
    )


def expected_findings(project: AuditProject, code: str) -> Counter[tuple[str, int | None, str]]:
    """(path, line, code) from `# expect:` comments; `expect-file` and sidecar entries give
    whole-file expectations (line None)."""
    expected: Counter[tuple[str, int | None, str]] = Counter()
    for file in project.files:
        try:
            lines = file.read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        pending: list[str] = []
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            whole = _EXPECT_FILE.search(stripped)
            if whole:
                expected.update((file.relpath, None, c.strip()) for c in whole.group(1).split(","))
                continue
            match = _EXPECT.search(line)
            if match and stripped.startswith("#"):  # own line: applies to the next line
                pending.extend(c.strip() for c in match.group(1).split(","))
                continue
            if not stripped:
                continue
            codes = [c.strip() for c in match.group(1).split(",")] if match else []
            expected.update((file.relpath, number, c) for c in [*pending, *codes])
            pending = []
    sidecar = project.root / SIDECAR
    if sidecar.is_file():
        for entry in tomllib.loads(sidecar.read_text(encoding="utf-8")).get("expect", []):
            expected[(entry["path"], entry.get("line"), entry["code"])] += 1
    return Counter({k: v for k, v in expected.items() if k[2] == code})


def actual_findings(findings: list[Finding]) -> Counter[tuple[str, int | None, str]]:
    return Counter((f.location.path or "", f.location.line, f.code) for f in findings)


def run(rule: type[Rule], project: AuditProject) -> list[Finding]:
    return list(rule().check(project))  # type: ignore[attr-defined]
