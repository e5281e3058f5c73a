"""Runs the Python side of an audit: parse each file once, walk it once, build the index,
then hand every recorded node to the rules that asked for its type."""

from __future__ import annotations

import ast
import gc
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from infermedic.audit.dockerfile.debug_env import DebugSwitch
from infermedic.audit.dockerfile.healthchecks import InlineCheck
from infermedic.audit.project import SourceFile
from infermedic.audit.python.context import FileContext, nesting_depth
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.audit.python.walker import ModuleInfo, Walker
from infermedic.errors import ConfigError
from infermedic.model import Finding, Notification, NotificationLevel
from infermedic.settings import Settings

ProgressCallback = Callable[[int, int, str], None]

# Code nested deeper than this (a generated 5,000-term expression) is not analysed, with a
# note. Up to it, the walk and the rules run with the recursion limit raised to
# RECURSION_LIMIT: the walk recurses about twice per level, and in Python 3.11+ a call from
# Python to Python uses no C stack, so the raised limit cannot overflow it.
MAX_NESTING = 1_000
RECURSION_LIMIT = 4 * MAX_NESTING + 2_000


@dataclass(kw_only=True)
class PythonRun:
    """What the Python side produced: the index, findings, notes and each file's text."""

    index: PythonIndex
    findings: list[Finding] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    failed_rules: set[str] = field(default_factory=set)  # rules that raised: the run is partial


def parse_file(source: SourceFile) -> tuple[FileContext | None, Notification | None]:
    """Parse one file; a file that cannot be read or parsed becomes a notification."""
    try:
        data = source.path.read_bytes()
    except OSError as exc:
        return None, _note(source, f"cannot read file: {exc.strerror or exc}")
    if b"\0" in data:
        return None, _note(source, "skipped: binary content (NUL bytes) in a .py file")
    try:
        ctx = FileContext.parse(source.relpath, data)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        return None, _note(source, f"cannot parse: {exc.msg}{where}")
    except (UnicodeDecodeError, LookupError) as exc:
        return None, _note(source, f"cannot decode: {exc}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, _note(source, f"cannot parse: {type(exc).__name__}: {exc}")
    depth = nesting_depth(ctx.tree, stop=MAX_NESTING)
    if depth > MAX_NESTING:
        return None, _note(
            source, f"cannot analyse: code nested more than {MAX_NESTING:,} levels deep"
        )
    return ctx, None


@contextmanager
def recursion_headroom(limit: int = RECURSION_LIMIT) -> Iterator[None]:
    """Raise the recursion limit to `limit` (never lower it) for the block, then restore it."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(max(before, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block; restore its state after.

    An audit keeps every parsed tree alive until the rules have run: millions of objects
    that each collection would rescan without freeing one (measured on installed pandas:
    40 % of the audit's CPU time). Reference counting still frees all acyclic garbage.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _note(source: SourceFile, message: str) -> Notification:
    return Notification(level=NotificationLevel.WARNING, message=message, path=source.relpath)


def run_python(
    files: Sequence[SourceFile],
    rules: Sequence[PythonRule],
    settings: Settings,
    progress: ProgressCallback | None = None,
    served_by: Mapping[str, str] | None = None,
    health_checks: Sequence[InlineCheck] = (),
    debug_switches: Sequence[DebugSwitch] = (),
) -> PythonRun:
    """Parse and walk `files`, build the index, run `rules`; failures become notifications,
    and a rule that raised is named in `failed_rules`.

    Parsing runs under the default recursion limit (the C parser scales its own guard from
    it); the walk and the rules, pure Python, under `recursion_headroom`.
    """
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
                with recursion_headroom():
                    modules.append(Walker(ctx, wanted).run())
                texts[source.relpath] = "\n".join(ctx.lines)
            except RecursionError:
                notes.append(_note(source, "cannot analyse: nesting too deep"))
        if progress is not None:
            progress(done, total, source.relpath)
    with recursion_headroom():
        index = PythonIndex(modules, served_by, health_checks, debug_switches)
        return _run_rules(index, modules, dispatch, rules, settings, notes, texts)


def _run_rules(
    index: PythonIndex,
    modules: list[ModuleInfo],
    dispatch: dict[type[ast.AST], list[PythonRule]],
    rules: Sequence[PythonRule],
    settings: Settings,
    notes: list[Notification],
    texts: dict[str, str],
) -> PythonRun:
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
                    result.failed_rules.add(rule.code)
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
            result.failed_rules.add(rule.code)
            result.notifications.append(
                Notification(
                    level=NotificationLevel.ERROR,
                    message=f"internal error in {rule.code}: {type(exc).__name__}: {exc}",
                    rule=rule.code,
                )
            )
    return result
