"""Collect server worker settings from every place a repo starts its server.

Dockerfile `CMD`/`ENTRYPOINT`/`ENV`, Procfile, gunicorn config files, docker-compose
services and Kubernetes containers all feed one list, so DKR002 judges them alike.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

from infermedic.audit.dockerfile.parser import Stage, env_pairs
from infermedic.audit.dockerfile.reading import dockerfiles
from infermedic.audit.dockerfile.servers import (
    WorkerSetting,
    settings_in_argv,
    settings_in_env,
    settings_in_script,
)
from infermedic.audit.k8s.loader import YamlDocument, get, items, line_of, pairs, text
from infermedic.audit.k8s.workloads import Workload, kind_of, workloads
from infermedic.audit.project import AuditProject, FileKind

_K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_GUNICORN_CONFIG = re.compile(r"^gunicorn[._-]?(conf|config|cfg)?[\w.-]*\.py$")


@dataclass(frozen=True, kw_only=True, slots=True)
class FoundSetting:
    """A worker setting and where it was written."""

    relpath: str
    line: int
    observed: str  # the source line as written
    setting: WorkerSetting
    workload: Workload | None = None  # the Kubernetes workload, for manifests


def collect(project: AuditProject, docs: list[YamlDocument]) -> Iterator[FoundSetting]:
    yield from _from_dockerfiles(project)
    yield from _from_procfiles(project)
    yield from _from_gunicorn_configs(project)
    yield from _from_compose(docs)
    yield from _from_manifests(docs)


def _source_line(lines: list[str] | tuple[str, ...], line: int) -> str:
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def _from_dockerfiles(project: AuditProject) -> Iterator[FoundSetting]:
    for file, dockerfile in dockerfiles(project):
        for stage in dockerfile.stages:
            env = stage.env()
            found: list[WorkerSetting] = []
            for instruction in stage.instructions:
                if instruction.keyword == "ENV":
                    for name, value in env_pairs(instruction.arguments).items():
                        found.extend(settings_in_env(name, value, instruction.line, env))
            found.extend(_stage_command(stage, env))
            for setting in found:
                yield FoundSetting(
                    relpath=file.relpath,
                    line=setting.line,
                    observed=_source_line(dockerfile.lines, setting.line),
                    setting=setting,
                )


def _stage_command(stage: Stage, env: Mapping[str, str]) -> list[WorkerSetting]:
    """Settings in the command the stage runs: ENTRYPOINT joined with CMD as Docker does."""
    entrypoint, cmd = stage.last("ENTRYPOINT"), stage.last("CMD")
    argv: list[tuple[str, int]] = []
    if entrypoint is not None:
        if entrypoint.exec_form is None:  # shell-form ENTRYPOINT ignores CMD
            return settings_in_script(entrypoint.arguments, entrypoint.line, env)
        argv.extend((w, entrypoint.line) for w in entrypoint.exec_form)
    if cmd is not None:
        if cmd.exec_form is None:
            if not argv:
                return settings_in_script(cmd.arguments, cmd.line, env)
            argv.extend((w, cmd.line) for w in ("/bin/sh", "-c", cmd.arguments))
        else:
            argv.extend((w, cmd.line) for w in cmd.exec_form)
    # Exec form gets no variable expansion from a shell, so `$VAR` is passed as written.
    return settings_in_argv(argv, None)


def _from_procfiles(project: AuditProject) -> Iterator[FoundSetting]:
    for file in project.files_of(FileKind.PROCFILE):
        try:
            lines = file.read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for number, line in enumerate(lines, start=1):
            process, sep, command = line.partition(":")
            if not sep or not process.strip() or line.lstrip().startswith("#"):
                continue
            for setting in settings_in_script(command, number):
                yield FoundSetting(
                    relpath=file.relpath, line=number, observed=line.strip(), setting=setting
                )


def _from_gunicorn_configs(project: AuditProject) -> Iterator[FoundSetting]:
    for file in project.files_of(FileKind.PYTHON):
        if not _GUNICORN_CONFIG.match(PurePosixPath(file.relpath).name):
            continue
        try:
            source = file.read_text()
            tree = ast.parse(source)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        lines = source.splitlines()
        for node in tree.body:
            if not isinstance(node, ast.Assign) or not any(
                isinstance(t, ast.Name) and t.id == "workers" for t in node.targets
            ):
                continue
            workers = _config_workers(node.value)
            if workers is None:
                continue
            written = _source_line(lines, node.lineno)
            yield FoundSetting(
                relpath=file.relpath,
                line=node.lineno,
                observed=written,
                setting=WorkerSetting(
                    server="gunicorn",
                    setting=written,
                    workers=workers if workers > 0 else None,
                    line=node.lineno,
                ),
            )


def _config_workers(value: ast.expr) -> int | None:
    """A literal worker count above one, 0 for a CPU-count formula, None when not judged."""
    if isinstance(value, ast.Constant) and isinstance(value.value, int):
        return value.value if value.value > 1 else None
    for node in ast.walk(value):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("cpu_count", "process_cpu_count", "sched_getaffinity"):
                return 0
    return None


def _from_compose(docs: list[YamlDocument]) -> Iterator[FoundSetting]:
    for document in docs:
        if kind_of(document) != (None, None):
            continue
        for _, service in pairs(get(document.root, "services")):
            env = _compose_env(get(service, "environment"))
            values = {name: value for name, (value, _) in env.items()}
            found: list[WorkerSetting] = []
            command = get(service, "command")
            if (script := text(command)) is not None and command is not None:
                found.extend(settings_in_script(script, line_of(command), values))
            elif command is not None:
                argv = [(w, line_of(i)) for i in items(command) if (w := text(i)) is not None]
                found.extend(settings_in_argv(argv, None))
            for name, (value, line) in env.items():
                found.extend(settings_in_env(name, value, line))
            for setting in found:
                yield FoundSetting(
                    relpath=document.relpath,
                    line=setting.line,
                    observed=document.source_line(setting.line),
                    setting=setting,
                )


def _compose_env(node: yaml.Node | None) -> dict[str, tuple[str, int]]:
    """Compose `environment:` as a mapping or a `KEY=value` list."""
    env: dict[str, tuple[str, int]] = {}
    for name, value_node in pairs(node):
        if (value := text(value_node)) is not None:
            env[name] = (value, line_of(value_node))
    for item in items(node):
        if (entry := text(item)) is not None and "=" in entry:
            name, _, value = entry.partition("=")
            env[name] = (value, line_of(item))
    return env


def _from_manifests(docs: list[YamlDocument]) -> Iterator[FoundSetting]:
    lines_of = {d.relpath: d for d in docs}
    for workload in workloads(docs):
        document = lines_of[workload.relpath]
        for container in workload.containers:
            env = {name: value for name, value, _ in container.env}

            def expand(word: str, env: dict[str, str] = env) -> str:
                # Kubernetes substitutes `$(NAME)` in command and args from the container's env.
                return _K8S_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), word)

            argv = [(expand(w), line) for w, line in (*container.command, *container.args)]
            found = settings_in_argv(argv, env)
            for name, value, line in container.env:
                found.extend(settings_in_env(name, value, line))
            for setting in found:
                yield FoundSetting(
                    relpath=workload.relpath,
                    line=setting.line,
                    observed=document.source_line(setting.line),
                    setting=setting,
                    workload=workload,
                )
