"""The audit engine: discover files, run the Python and project rules, isolate failures,
apply suppressions, and return one sorted `Report`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from infermedic.audit.discover import DEFAULT_MAX_FILE_BYTES, Discovery, discover
from infermedic.audit.dockerfile.debug_env import debug_switches
from infermedic.audit.dockerfile.healthchecks import inline_python_checks
from infermedic.audit.project import AuditProject, FileKind, ProjectRule, SourceFile
from infermedic.audit.python.rule import PythonRule
from infermedic.audit.python.runner import collector_paused, recursion_headroom, run_python
from infermedic.audit.python.services import project_routes as service_routes
from infermedic.errors import ConfigError
from infermedic.model import Finding, Notification, NotificationLevel, Report
from infermedic.rules import Registry, Rule
from infermedic.runner import run_rules
from infermedic.settings import Settings
from infermedic.suppression import apply_suppressions

ProgressCallback = Callable[[int, int, str], None]


def select_audit_rules(settings: Settings, registry: Registry) -> list[type[Rule]]:
    """The selected rules that read source files (Python and project rules)."""
    return [
        rule
        for rule in registry.select(settings.select, settings.ignore)
        if issubclass(rule, PythonRule | ProjectRule)
    ]


def run_audit(
    paths: Sequence[Path],
    settings: Settings,
    *,
    registry: Registry | None = None,
    progress: ProgressCallback | None = None,
) -> Report:
    """Audit `paths`. Raises `InputError` for a missing path and `ConfigError` for bad settings."""
    with collector_paused():
        return _run_audit(paths, settings, registry=registry, progress=progress)


def _run_audit(
    paths: Sequence[Path],
    settings: Settings,
    *,
    registry: Registry | None,
    progress: ProgressCallback | None,
) -> Report:
    clock = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    options = settings.options_for_engine("audit")
    max_bytes = options.get("max-file-bytes", DEFAULT_MAX_FILE_BYTES)
    if not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ConfigError("[tool.infermedic.audit] max-file-bytes must be a positive integer")
    discovery = discover(list(paths), exclude=settings.exclude, max_file_bytes=max_bytes)
    chosen = select_audit_rules(settings, registry or Registry.default())
    python_rules = [rule() for rule in chosen if issubclass(rule, PythonRule)]
    project_rules = [rule for rule in chosen if issubclass(rule, ProjectRule)]
    notes: list[Notification] = list(discovery.notifications)

    python_files = [f for f in discovery.files if f.kind is FileKind.PYTHON]
    python = run_python(
        python_files,
        python_rules,
        settings,
        progress,
        served_by=_production_servers(discovery),
        health_checks=inline_python_checks(discovery.files),
        debug_switches=debug_switches(discovery.files),
    )
    notes.extend(python.notifications)
    findings: list[Finding] = list(python.findings)

    texts: dict[str, str] = dict(python.texts)
    readable: list[SourceFile] = []
    for source in discovery.files:
        if source.kind in {FileKind.PYTHON, FileKind.OTHER, FileKind.TERRAFORM_STATE}:
            readable.append(source)  # Python was read above; the others are not read as text
            continue
        try:
            texts[source.relpath] = source.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            notes.append(
                Notification(
                    level=NotificationLevel.WARNING,
                    message=f"skipped: cannot read as UTF-8 text ({exc})",
                    path=source.relpath,
                )
            )
            continue
        readable.append(source)

    project = AuditProject(
        root=discovery.root,
        files=tuple(readable),
        settings=settings,
        routes=service_routes(python.index),
        tracked_files=discovery.tracked_files,
        roots=discovery.roots,
    )
    # Project rules run through the one runner (per-rule isolation, crash notifications);
    # the Python rules run per file in run_python, which isolates them per node.
    with recursion_headroom():
        judged = run_rules(project_rules, project)
    findings.extend(judged.findings)
    notes.extend(judged.notifications)
    failed = set(python.failed_rules) | set(judged.rules_failed)

    # Manifests a rule skipped, dependency files it could not read: recorded by the rules.
    notes.extend(project.notifications)

    rules_run = tuple(sorted(rule.code for rule in chosen))
    kept, unused = apply_suppressions(findings, texts.get, sorted(texts), rules_run)
    notes.extend(unused)
    return Report(
        tool="audit",
        findings=tuple(kept),
        notifications=tuple(notes),
        rules_run=rules_run,
        inputs=tuple(str(p) for p in paths),
        measurements={
            # Finding paths are relative to this directory (SARIF anchors them in the repo).
            "root": str(discovery.root),
            "files": len(discovery.files),
            "python_files": len(python_files),
            "python_files_parsed": len(python.index.modules),
            # A rule that raised leaves the audit incomplete: the CLI exits 2 on "partial".
            "status": "partial" if failed else "complete",
            "rules_failed": sorted(failed),
            "routes": [
                {
                    "method": r.method,
                    "path": r.path,
                    "handler": r.handler,
                    "file": r.file,
                    "line": r.line,
                    "async": r.is_async,
                    "framework": r.framework,
                }
                for r in project.routes
            ],
            # where the repo names a green-thread server (gevent, eventlet): a loop of its own
            "green_threads": _green_threads(texts),
        },
        started_at=started_at,
        duration_s=round(time.perf_counter() - clock, 3),
    ).sorted()


# A command line that starts a production server (not `python app.py`).
_PRODUCTION_SERVER = re.compile(
    r"\b(gunicorn|uvicorn|hypercorn|waitress-serve|daphne|granian|uwsgi|bentoml\s+serve|"
    r"fastapi\s+run|serve\s+run|litestar\s+run)\b"
)


# `python app.py`, `python3 -u src/serve.py`: a script run as the service's command.
_SCRIPT_RUN = re.compile(
    r"\bpython[0-9.]*[\"']?(?:[\s,]+[\"']?-[\w-]+[\"']?)*[\s,]+[\"']?(?P<script>[\w./-]+\.py)\b"
)
# Deployment descriptors beside the Dockerfile that also say how the app starts.
_DESCRIPTOR_NAMES = re.compile(
    r"^(heroku\.ya?ml|app\.ya?ml|(docker-)?compose[\w.-]*\.ya?ml|fly\.toml)$", re.IGNORECASE
)


_GREEN = re.compile(r"\b(gevent|eventlet)\b")


def _green_threads(texts: Mapping[str, str]) -> list[str]:
    """`file:line` of the first few lines that name gevent or eventlet (a worker class, a
    requirement, a monkey-patch): such a server runs its handlers on a hub, a loop of its own."""
    found: list[str] = []
    for relpath in sorted(texts):
        for number, line in enumerate(texts[relpath].splitlines(), start=1):
            if _GREEN.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{relpath}:{number}")
                break
        if len(found) >= 5:
            break
    return found


def _production_servers(discovery: Discovery) -> dict[str, str]:
    """Procfiles, Dockerfiles and deployment descriptors (heroku.yml, compose files, App
    Engine app.yaml) that start a production server: path → that line. A script run with
    `python x.py` is recorded as `script:x.py` → the line."""
    found: dict[str, str] = {}
    for source in discovery.files:
        name = source.relpath.rsplit("/", 1)[-1]
        descriptor = source.kind is FileKind.YAML and _DESCRIPTOR_NAMES.match(name)
        if source.kind not in {FileKind.PROCFILE, FileKind.DOCKERFILE} and not descriptor:
            continue
        try:
            text = source.read_text()
        except (OSError, UnicodeDecodeError):
            continue  # reported when the file rules read it
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                continue
            script = _SCRIPT_RUN.search(stripped)
            if script is not None:
                found.setdefault(f"script:{script.group('script').rsplit('/', 1)[-1]}", stripped)
            if source.relpath not in found and _PRODUCTION_SERVER.search(stripped):
                found[source.relpath] = stripped[:200]
    return found
