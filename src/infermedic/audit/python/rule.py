"""The base class of Python rules, and the scope each rule sees a node in."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import FileContext, call_text
from infermedic.audit.python.index import PythonIndex, Reach
from infermedic.audit.python.walker import Binding, BindingKind, Flag, FunctionInfo, ModuleInfo
from infermedic.model import Evidence, EvidenceKind, Finding
from infermedic.rules import Rule
from infermedic.settings import Settings


class Scope:
    """Where a node sits: its file, function, context flags and the project index.

    One object is reused for every node of a run (its fields are reset per node), so
    rules must not keep a reference to it.
    """

    __slots__ = ("ctx", "flags", "function", "index", "module", "settings")

    def __init__(self, index: PythonIndex, settings: Settings) -> None:
        self.index = index
        self.settings = settings
        self.module: ModuleInfo
        self.ctx: FileContext
        self.function: FunctionInfo | None = None
        self.flags = Flag.NONE

    def options(self, code: str) -> Mapping[str, Any]:
        return self.settings.options_for_rule(code)

    def binding(self, expr: ast.expr) -> Binding | None:
        return self.index.binding_of(expr, self.function, self.module)

    def qualified(self, expr: ast.expr) -> str | None:
        return self.ctx.qualified_name(expr)

    def reaches(self) -> list[Reach]:
        return self.index.reaches(self.function)

    def on_loop(self) -> list[Reach]:
        """The routes whose event loop runs this node (empty when delegated to a thread)."""
        if self.flags & Flag.OFF_LOOP:
            return []
        return [r for r in self.reaches() if r.on_loop]

    def on_request_path(self) -> list[Reach]:
        """The routes whose response waits for this node (fire-and-forget work excluded)."""
        if self.flags & (Flag.OFF_PATH | Flag.ONCE):
            return []
        return [r for r in self.reaches() if r.on_path]

    def evidence(
        self, node: ast.AST, reach: Reach | None = None, last: str | None = None
    ) -> list[Evidence]:
        """The offending line, plus the route's call chain when it spans functions."""
        found = [self.ctx.source_evidence(node)]
        if reach is not None:
            steps = [*reach.chain, last] if last else list(reach.chain)
            found.append(
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"call chain from {reach.route.label} "
                    f"({reach.route.function.module.ctx.relpath}:{reach.route.line})",
                    observed=" → ".join(steps),
                    values={"chain": steps, "route": reach.route.label},
                )
            )
        return found

    def model_call(self, call: ast.Call) -> str | None:
        """The model computation `call` performs (`pipeline.predict_proba`), or None."""
        if self.flags & Flag.AWAITED:
            return None
        target = call.func
        if self.index.callee(target, self.function, self.module) is not None:
            return None  # a repo function: the call graph looks inside it instead
        if isinstance(target, ast.Attribute):
            receiver = self.binding(target.value)
            if receiver is not None and receiver.kind in {
                BindingKind.SYNC_CLIENT,
                BindingKind.APP,
                BindingKind.EXPLAINER,
            }:
                return None
            if target.attr in kc.MODEL_METHODS:
                return call_text(call)
            if (
                receiver is not None
                and receiver.kind is BindingKind.MODEL
                and (target.attr in kc.MODEL_METHODS_ON_KNOWN_MODEL)
            ):
                return call_text(call)
            if target.attr in {"eval", "to", "cuda", "cpu", "train"}:
                return None
        if isinstance(target, ast.Name | ast.Attribute | ast.Subscript):
            holder = self.binding(target)
            if holder is not None and holder.kind is BindingKind.MODEL:
                return call_text(call)
        return None


class PythonRule(Rule):
    """A rule over Python source. `check` is called for each node whose type is listed in
    `node_types`, in one shared walk; `check_project` once, after all files."""

    node_types: ClassVar[tuple[type[ast.AST], ...]] = ()

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        return iter(())

    def check_project(self, index: PythonIndex, settings: Settings) -> Iterator[Finding]:
        return iter(())


def first(reaches: list[Reach]) -> Reach:
    """The reach to report: the shortest chain, then the route declared first."""
    return min(reaches, key=lambda r: (len(r.chain), r.route.line))
