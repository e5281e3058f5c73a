"""The project-wide Python index: modules, classes, functions, bindings, routes, call graph.

Built from the walks of every file; answers "what does this expression hold", "which repo
function does this call reach" and "which routes reach this function, how".
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from infermedic.audit.dockerfile.debug_env import DebugSwitch
from infermedic.audit.dockerfile.healthchecks import InlineCheck
from infermedic.audit.project import Route
from infermedic.audit.python.context import dotted
from infermedic.audit.python.routes import RouteFinder, RouteInfo, project_routes
from infermedic.audit.python.walker import (
    STATE_PREFIX,
    Binding,
    BindingKind,
    ClassInfo,
    Flag,
    FunctionInfo,
    ModuleInfo,
    classify_value,
)

_MAX_DEPTH = 8  # resolution through re-exports and factories; deeper chains are given up


@dataclass(frozen=True, slots=True)
class Reach:
    """How a route reaches a function: the chain of function names and the context."""

    route: RouteInfo
    chain: tuple[str, ...]
    on_loop: bool
    on_path: bool
    no_grad: bool


class PythonIndex:
    """Every module of the audited repo, with lookups across modules."""

    def __init__(
        self,
        modules: Iterable[ModuleInfo],
        served_by: Mapping[str, str] | None = None,
        health_checks: Iterable[InlineCheck] = (),
        debug_switches: Iterable[DebugSwitch] = (),
    ) -> None:
        # Files outside Python that start a production server (`Procfile`, `Dockerfile`):
        # path → the command line, so rules can tell how the app is really served.
        self.served_by: dict[str, str] = dict(served_by or {})
        # `python -c` code that container health checks run (Dockerfile, compose)
        self.health_checks = tuple(health_checks)
        # `FLASK_DEBUG=1` and `flask --debug run` in Dockerfiles, compose files, Procfiles
        self.debug_switches = tuple(debug_switches)
        self.modules: dict[str, ModuleInfo] = {}
        suffixes: dict[str, list[ModuleInfo]] = {}
        for module in modules:
            self.modules[module.name] = module
            parts = module.name.split(".")
            for start in range(1, len(parts)):
                suffixes.setdefault(".".join(parts[start:]), []).append(module)
        # `src/app/main.py` is imported as `app.main`: accept unambiguous suffixes.
        self._suffix_modules = {
            name: found[0]
            for name, found in suffixes.items()
            if len(found) == 1 and name not in self.modules
        }
        self.state_attrs: dict[str, Binding] = {}
        for module in self.modules.values():
            self.state_attrs.update(module.state_attrs)
        self._return_cache: dict[int, Binding | None] = {}
        # parameter → what callers pass it (`run_inference(model, x)`), per function
        self._arguments: dict[int, dict[str, Binding]] = {}
        self._bind_arguments()
        self._reach: dict[int, list[Reach]] = {}
        finder = RouteFinder(self)
        self.routes: list[RouteInfo] = finder.routes
        # Routes answered by middleware rather than a repo function (`instrument(app)`).
        self.provided_routes: list[Route] = finder.provided_routes
        self._build_reach()

    # -- lookups ---------------------------------------------------------------------------
    def module(self, name: str) -> ModuleInfo | None:
        return self.modules.get(name) or self._suffix_modules.get(name)

    def lookup(self, qualified: str, depth: int = 0) -> FunctionInfo | ClassInfo | Binding | None:
        """The repo object a qualified name refers to, through re-exports."""
        if depth > _MAX_DEPTH:
            return None
        parts = qualified.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = self.module(".".join(parts[:cut]))
            if module is not None:
                return self._lookup_in(module, parts[cut:], depth)
        return None

    def _lookup_in(
        self, module: ModuleInfo, rest: list[str], depth: int
    ) -> FunctionInfo | ClassInfo | Binding | None:
        head, tail = rest[0], rest[1:]
        if head in module.classes:
            cls = module.classes[head]
            return self.method(cls, tail[0]) if len(tail) == 1 else (cls if not tail else None)
        if not tail and head in module.functions:
            return module.functions[head]
        if not tail and head in module.bindings:
            return module.bindings[head]
        if head in module.ctx.imports:
            return self.lookup(".".join([module.ctx.imports[head], *tail]), depth + 1)
        return None

    def method(self, cls: ClassInfo, name: str, depth: int = 0) -> FunctionInfo | None:
        if name in cls.methods:
            return cls.methods[name]
        if depth > _MAX_DEPTH:
            return None
        for base in cls.bases:
            found = self.lookup(base)
            if isinstance(found, ClassInfo):
                method = self.method(found, name, depth + 1)
                if method is not None:
                    return method
        return None

    def class_attr(self, cls: ClassInfo, name: str, depth: int = 0) -> Binding | None:
        if name in cls.attrs:
            return cls.attrs[name]
        if depth > _MAX_DEPTH:
            return None
        for base in cls.bases:
            found = self.lookup(base)
            if isinstance(found, ClassInfo):
                attr = self.class_attr(found, name, depth + 1)
                if attr is not None:
                    return attr
        return None

    def base_names(self, cls: ClassInfo, depth: int = 0) -> set[str]:
        """Qualified names of every base class, following repo classes to library ones."""
        names = set(cls.bases)
        if depth > _MAX_DEPTH:
            return names
        for base in cls.bases:
            found = self.lookup(base)
            if isinstance(found, ClassInfo):
                names |= self.base_names(found, depth + 1)
        return names

    # -- what expressions hold -------------------------------------------------------------
    def binding_of(
        self, expr: ast.expr, func: FunctionInfo | None, module: ModuleInfo, depth: int = 0
    ) -> Binding | None:
        """What `expr` holds (a model, a sync client, an app, a repo instance), or None."""
        if depth > _MAX_DEPTH:
            return None
        found: Binding | None = None
        if isinstance(expr, ast.Name):
            scope = func
            while scope is not None and found is None:
                local = scope.locals.get(expr.id)
                if local is not None and local.kind is BindingKind.CALL:
                    local = self._concrete(local, depth)  # a parameter typed `x: Request`
                found = local or self._arguments.get(id(scope), {}).get(expr.id)
                scope = scope.parent
            if found is None:
                found = module.bindings.get(expr.id)
            if found is None and expr.id in module.ctx.imports:
                target = self.lookup(module.ctx.imports[expr.id])
                found = target if isinstance(target, Binding) else None
        elif isinstance(expr, ast.Attribute):
            base = expr.value
            if isinstance(base, ast.Name) and base.id in {"self", "cls"} and func is not None:
                owner = _owner_class(func)
                found = self.class_attr(owner, expr.attr) if owner else None
            elif dotted(base).endswith("state"):
                found = self.state_attrs.get(expr.attr)
            else:
                holder = self.binding_of(base, func, module, depth + 1)
                if holder is not None and holder.kind is BindingKind.INSTANCE:
                    cls = self.lookup(holder.origin)
                    found = self.class_attr(cls, expr.attr) if isinstance(cls, ClassInfo) else None
                elif holder is None:
                    qualified = module.ctx.qualified_name(expr)
                    target = self.lookup(qualified) if qualified else None
                    found = target if isinstance(target, Binding) else None
        elif isinstance(expr, ast.Subscript):
            found = self.binding_of(expr.value, func, module, depth + 1)
        elif isinstance(expr, ast.Call):
            target = self.callee(expr.func, func, module)
            if isinstance(target, FunctionInfo):
                found = (
                    Binding(kind=BindingKind.INSTANCE, origin=target.cls.qualname, line=expr.lineno)
                    if target.name == "__init__" and target.cls is not None
                    else self.return_binding(target, depth + 1)
                )
            else:
                found = classify_value(expr, func, module)
        return self._concrete(found, depth)

    def _concrete(self, binding: Binding | None, depth: int) -> Binding | None:
        if binding is None or binding.kind is not BindingKind.CALL:
            return binding
        if depth > _MAX_DEPTH:
            return None
        if binding.origin.startswith(STATE_PREFIX):
            held = self.state_attrs.get(binding.origin[len(STATE_PREFIX) :])
            return None if held is binding else self._concrete(held, depth + 1)
        target = self.lookup(binding.origin)
        if isinstance(target, ClassInfo):
            return Binding(kind=BindingKind.INSTANCE, origin=target.qualname, line=binding.line)
        if isinstance(target, Binding) and target.kind is BindingKind.SYNC_CLIENT:
            return target  # `SessionLocal()` of `SessionLocal = sessionmaker(...)`
        if isinstance(target, FunctionInfo):
            if target.name == "__init__" and target.cls is not None:
                return Binding(
                    kind=BindingKind.INSTANCE, origin=target.cls.qualname, line=binding.line
                )
            return self.return_binding(target, depth + 1)
        return None

    def return_binding(self, func: FunctionInfo, depth: int = 0) -> Binding | None:
        """What a repo function returns (a model factory, a client getter)."""
        key = id(func)
        if key in self._return_cache:
            return self._return_cache[key]
        self._return_cache[key] = None  # recursion guard
        result = None
        for value in func.returns:
            result = self.binding_of(value, func, func.module, depth + 1)
            if result is not None:
                break
        self._return_cache[key] = result
        return result

    def callee(
        self, target: ast.expr, func: FunctionInfo | None, module: ModuleInfo
    ) -> FunctionInfo | None:
        """The repo function a call target names (a class call names its `__init__`)."""
        found: FunctionInfo | ClassInfo | Binding | None = None
        if isinstance(target, ast.Name):
            scope = func
            while scope is not None and found is None:
                found = scope.nested.get(target.id)
                scope = scope.parent
            if found is None:
                found = module.functions.get(target.id) or module.classes.get(target.id)
            if found is None and target.id in module.ctx.imports:
                found = self.lookup(module.ctx.imports[target.id])
        elif isinstance(target, ast.Attribute):
            base = target.value
            if isinstance(base, ast.Name) and base.id in {"self", "cls"} and func is not None:
                owner = _owner_class(func)
                found = self.method(owner, target.attr) if owner else None
            else:
                holder = self.binding_of(base, func, module)
                if holder is not None and holder.kind is BindingKind.INSTANCE:
                    cls = self.lookup(holder.origin)
                    found = self.method(cls, target.attr) if isinstance(cls, ClassInfo) else None
                elif holder is None:
                    qualified = module.ctx.qualified_name(target)
                    found = self.lookup(qualified) if qualified else None
        if isinstance(found, ClassInfo):
            return self.method(found, "__init__")
        return found if isinstance(found, FunctionInfo) else None

    def class_called(
        self, target: ast.expr, func: FunctionInfo | None, module: ModuleInfo
    ) -> ClassInfo | None:
        """The repo class a call target names (`Explainer(...)`, `explain.Explainer(...)`)."""
        found: FunctionInfo | ClassInfo | Binding | None = None
        if isinstance(target, ast.Name):
            found = module.classes.get(target.id)
            if found is None and target.id in module.ctx.imports:
                found = self.lookup(module.ctx.imports[target.id])
        elif isinstance(target, ast.Attribute):
            qualified = module.ctx.qualified_name(target)
            found = self.lookup(qualified) if qualified else None
        return found if isinstance(found, ClassInfo) else None

    # -- arguments -------------------------------------------------------------------------
    def _bind_arguments(self) -> None:
        """Record what repo functions are handed: a model, a client or a repo instance passed
        as an argument is what the parameter holds inside the callee (the first binding
        seen wins; a parameter passed different things keeps the first)."""
        for module in self.modules.values():
            for func in module.all_functions:
                for site in func.calls:
                    call = site.node
                    if not isinstance(call, ast.Call) or site.target is not call.func:
                        continue
                    passed: list[tuple[int | str, ast.expr]] = [
                        (i, a) for i, a in enumerate(call.args) if _named(a)
                    ]
                    passed += [(k.arg, k.value) for k in call.keywords if k.arg and _named(k.value)]
                    if not passed:
                        continue
                    callee = self.callee(call.func, func, module)
                    if callee is None:
                        continue
                    self._bind_call(callee, passed, func, module)

    def _bind_call(
        self,
        callee: FunctionInfo,
        passed: list[tuple[int | str, ast.expr]],
        func: FunctionInfo,
        module: ModuleInfo,
    ) -> None:
        args = callee.node.args
        names = [a.arg for a in (*args.posonlyargs, *args.args)]
        if callee.cls is not None and names and names[0] in {"self", "cls"}:
            names = names[1:]  # called through an instance or the class
        keywords = {*names, *(a.arg for a in args.kwonlyargs)}
        bound = self._arguments.setdefault(id(callee), {})
        for key, value in passed:
            name = names[key] if isinstance(key, int) and key < len(names) else key
            if not isinstance(name, str) or name not in keywords or name in bound:
                continue
            declared = callee.locals.get(name)
            if declared is not None and self._concrete(declared, 0) is not None:
                continue  # declared by the callee itself (a dependency, a repo class)
            binding = self.binding_of(value, func, module)
            if binding is not None and binding.kind is not BindingKind.APP:
                bound[name] = binding

    def project_routes(self) -> tuple[Route, ...]:
        """The routes in the contract's form, one per method."""
        return project_routes(self.routes, self.provided_routes)

    # -- reachability ----------------------------------------------------------------------
    def _build_reach(self) -> None:
        for route in self.routes:
            start = route.function
            seen: set[tuple[int, bool, bool, bool]] = set()
            queue: deque[tuple[FunctionInfo, tuple[str, ...], bool, bool, bool]] = deque(
                [(start, (start.name,), route.on_loop, True, False)]
            )
            while queue:
                func, chain, on_loop, on_path, no_grad = queue.popleft()
                key = (id(func), on_loop, on_path, no_grad)
                if key in seen:
                    continue
                seen.add(key)
                self._reach.setdefault(id(func), []).append(
                    Reach(
                        route=route, chain=chain, on_loop=on_loop, on_path=on_path, no_grad=no_grad
                    )
                )
                if len(chain) > 12:
                    continue
                for site in func.calls:
                    if site.flags & Flag.ONCE:
                        continue
                    callee = self.callee(site.target, func, func.module)
                    if callee is None or callee.cached:
                        continue
                    next_loop = on_loop and not site.flags & Flag.OFF_LOOP
                    if site.flags & (Flag.BACKGROUND | Flag.DEPENDENCY):
                        next_loop = next_loop and callee.is_async
                    queue.append(
                        (
                            callee,
                            (*chain, callee.name),
                            next_loop,
                            on_path and not site.flags & Flag.OFF_PATH,
                            no_grad or bool(site.flags & Flag.NO_GRAD),
                        )
                    )

    def reaches(self, func: FunctionInfo | None) -> list[Reach]:
        """Every way a route reaches `func` (the route itself included)."""
        return [] if func is None else self._reach.get(id(func), [])


def _named(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Name | ast.Attribute)


def _owner_class(func: FunctionInfo) -> ClassInfo | None:
    scope: FunctionInfo | None = func
    while scope is not None:
        if scope.cls is not None:
            return scope.cls
        scope = scope.parent
    return None
