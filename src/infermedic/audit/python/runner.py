"""Runs the Python side of an audit: parse each file once, walk it once, build the index,
then hand every recorded node to the rules that asked for its type."""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from infermedic.audit.project import SourceFile
from infermedic.audit.python.context import FileContext
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.audit.python.walker import ModuleInfo, Walker
from infermedic.errors import ConfigError
from infermedic.model import Finding, Notification, NotificationLevel
from infermedic.settings import Settings

ProgressCallback = Callable[[int, int, str], None]


@dataclass(kw_only=True)
class PythonRun:
    """What the Python side produced: the index, findings, notes and each file's text."""

    index: PythonIndex
    findings: list[Finding] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)


def parse_file(source: SourceFile) -> tuple[FileContext | None, Notification | None]:
    """Parse one file; a file that cannot be read or parsed becomes a notification."""
    try:
        data = source.path.read_bytes()
    except OSError as exc:
        return None, _note(source, f"cannot read file: {exc.strerror or exc}")
    if b"\0" in data:
        return None, _note(source, "skipped: binary content (NUL bytes) in a .py file")
    try:
        return FileContext.parse(source.relpath, data), None
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        return None, _note(source, f"cannot parse: {exc.msg}{where}")
    except (UnicodeDecodeError, LookupError) as exc:
        return None, _note(source, f"cannot decode: {exc}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, _note(source, f"cannot parse: {type(exc).__name__}: {exc}")


def _note(source: SourceFile, message: str) -> Notification:
    return Notification(level=NotificationLevel.WARNING, message=message, path=source.relpath)


def run_python(
    files: Sequence[SourceFile],
    rules: Sequence[PythonRule],
    settings: Settings,
    progress: ProgressCallback | None = None,
) -> PythonRun:
    """Parse and walk `files`, build the index, run `rules`; failures become notifications."""
    dispatch: dict[type[ast.AST], list[PythonRule]] = {}
    for rule in rules:
        for node_type in rule.node_types:
            dispatch.setdefault(node_type, []).append(rule)
    wanted = frozenset(dispatch)
    modules: list[ModuleInfo] = []
    notes: list[Notification] = []
    texts: dict[str, str] = {}
    total = len(files)
    for done, source in enumerate(files, start=1):
        ctx, note = parse_file(source)
        if note is not None:
            notes.append(note)
        if ctx is not None:
            try:
                modules.append(Walker(ctx, wanted).run())
                texts[source.relpath] = "\n".join(ctx.lines)
            except RecursionError:
                notes.append(_note(source, "cannot analyse: nesting too deep"))
        if progress is not None:
            progress(done, total, source.relpath)
    index = PythonIndex(modules)
    result = PythonRun(index=index, notifications=notes, texts=texts)
    scope = Scope(index, settings)
    broken: set[tuple[str, str]] = set()
    for module in modules:
        scope.module = module
        scope.ctx = module.ctx
        for node, function, flags in module.events:
            handlers = dispatch.get(type(node))
            if not handlers:
                continue
            scope.function = function
            scope.flags = flags
            for rule in handlers:
                try:
                    result.findings.extend(rule.check(node, scope))
                except ConfigError:
                    raise  # a badly typed rule option stops the run as a config error
                except Exception as exc:  # noqa: BLE001 - one rule must not end the run
                    key = (rule.code, module.ctx.relpath)
                    if key not in broken:
                        broken.add(key)
                        line = getattr(node, "lineno", "?")
                        result.notifications.append(
                            Notification(
                                level=NotificationLevel.ERROR,
                                message=f"internal error in {rule.code} at line {line}: "
                                f"{type(exc).__name__}: {exc}",
                                path=module.ctx.relpath,
                                rule=rule.code,
                            )
                        )
    for rule in rules:
        try:
            result.findings.extend(rule.check_project(index, settings))
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001
            result.notifications.append(
                Notification(
                    level=NotificationLevel.ERROR,
                    message=f"internal error in {rule.code}: {type(exc).__name__}: {exc}",
                    rule=rule.code,
                )
            )
    return result
