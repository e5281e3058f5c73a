"""Model calls made while holding a lock every request shares (SVC012's analysis).

A lock is *shared* when one object serves every request: made at module level (or bound to
a module name through `global`), as a class attribute, in `app.state`, or as an instance
attribute (`self._lock = Lock()`) of a class whose instance is made once: at module level,
in a cached function (`@lru_cache def get_service()`), under a lazy guard, or in code no
route runs (a lifespan, a factory, `main`). A lock made inside the request, or on an object
the request makes, serialises nothing.

A lock is *held* over a `with LOCK:` / `async with LOCK:` body, from `LOCK.acquire()` to the
matching `LOCK.release()` (or a `try` whose `finally` releases it), and over the whole body
of a function decorated by a repo decorator whose wrapper calls the function inside such a
block. Under it, a model call is found in the held code or in any repo function it calls.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import dotted, unparse
from infermedic.audit.python.index import PythonIndex, Reach, _owner_class
from infermedic.audit.python.lazy_load import _module_statements
from infermedic.audit.python.route_kinds import (
    is_health_path,
    is_model_loading_route,
    is_readiness_path,
    is_training_or_upload_route,
)
from infermedic.audit.python.routes import RouteInfo
from infermedic.audit.python.rule import Scope, first
from infermedic.audit.python.walker import (
    BindingKind,
    CallSite,
    ClassInfo,
    Flag,
    FunctionInfo,
    ModuleInfo,
)
from infermedic.settings import Settings

# Lock constructors: the qualified name → how to name it.
_LOCKS = {
    "threading.Lock": "lock",
    "threading.RLock": "re-entrant lock",
    "_thread.allocate_lock": "lock",
    "multiprocessing.Lock": "process lock",
    "multiprocessing.RLock": "re-entrant process lock",
    "asyncio.Lock": "asyncio lock",
    "anyio.Lock": "anyio lock",
    "gevent.lock.RLock": "re-entrant lock",
}
# Semaphores serialise only with one slot: more is a deliberate bound on concurrency.
# value: the keyword naming the count (the first positional argument otherwise; default 1).
_SEMAPHORES = {
    "threading.Semaphore": "value",
    "threading.BoundedSemaphore": "value",
    "multiprocessing.Semaphore": "value",
    "multiprocessing.BoundedSemaphore": "value",
    "asyncio.Semaphore": "value",
    "asyncio.BoundedSemaphore": "value",
    "anyio.Semaphore": "initial_value",
    "gevent.lock.Semaphore": "value",
    "gevent.lock.BoundedSemaphore": "value",
}
# Frameworks that own their serving concurrency (batching, replicas, runners): skipped.
_OWN_CONCURRENCY = frozenset({"kserve", "bentoml", "ray"})
_MAX_DEPTH = 8


@dataclass(frozen=True, kw_only=True)
class SharedLock:
    """A lock object every request uses, and where it is made."""

    kind: str  # "lock", "re-entrant lock", "one-slot semaphore"…
    scope: str  # "module", "class", "instance", "state"
    owner: str  # the module or class qualname, or "app.state"
    name: str  # its attribute or variable name
    module: ModuleInfo
    node: ast.AST  # the assignment that makes it
    shared_by: str = ""  # instance locks: where the one instance is made

    def describe(self, text: str) -> str:
        if self.scope == "module":
            return f"the module-level {self.kind} `{text}`"
        if self.scope == "class":
            return f"the class-level {self.kind} `{text}`"
        if self.scope == "state":
            return f"the app-wide {self.kind} `{text}`"
        return f"the {self.kind} `{text}` of the one shared `{self.owner.rsplit('.', 1)[-1]}`"


@dataclass(frozen=True, kw_only=True)
class Held:
    """Code run while a lock is held: the lock as written, where it is taken, and the calls."""

    text: str
    taken: ast.AST  # the `with`, the `acquire()` statement, or the decorator
    how: str  # "with", "acquire", "decorator"
    decorator: str  # the decorator's name, when it takes the lock
    lock: SharedLock
    sites: tuple[CallSite, ...]


@dataclass(frozen=True, kw_only=True)
class LockedCall:
    """A model call under a shared lock, on a route's request path."""

    reach: Reach  # how the route reaches `holder`
    holder: FunctionInfo  # the function that holds the lock
    held: Held
    site: ast.AST  # the held call that runs (or leads to) the model call
    model_call: str
    via: tuple[str, ...]  # repo functions between the held call and the model call


def locked_model_calls(index: PythonIndex, settings: Settings) -> Iterator[LockedCall]:
    """Every model call a serving route makes under a shared lock, once per lock use and
    held call."""
    table = _LockTable(index)
    scope = Scope(index, settings)
    for module in index.modules.values():
        for func in module.all_functions:
            reaches = [r for r in index.reaches(func) if r.on_path and _serving(r.route)]
            if not reaches:
                continue
            for held in _held(index, table, func):
                for site in held.sites:
                    found = _model_call(index, scope, func, site, (), set())
                    if found is not None:
                        what, via = found
                        yield LockedCall(
                            reach=first(reaches),
                            holder=func,
                            held=held,
                            site=site.node,
                            model_call=what,
                            via=via,
                        )


def _serving(route: RouteInfo) -> bool:
    """A route that serves predictions under the server's own concurrency."""
    return not (
        route.framework in _OWN_CONCURRENCY
        or is_model_loading_route(route)
        or is_training_or_upload_route(route)
        or is_readiness_path(route.path)
        or is_health_path(route.path)
    )


# -- where the lock is held -----------------------------------------------------------------
def _held(index: PythonIndex, table: _LockTable, func: FunctionInfo) -> Iterator[Held]:
    for text, taken, how, body in _regions(func.node):
        lock = table.resolve(text, func)
        if lock is not None:
            sites = _sites(func, body)
            yield Held(
                text=unparse(text), taken=taken, how=how, decorator="", lock=lock, sites=sites
            )
    for decorator in func.node.decorator_list:
        found = _decorator_lock(index, table, func, decorator)
        if found is not None:
            written, lock, name = found
            sites = tuple(s for s in func.calls if not s.flags & Flag.DEPENDENCY)
            yield Held(
                text=written,
                taken=decorator,
                how="decorator",
                decorator=name,
                lock=lock,
                sites=sites,
            )


def _regions(
    root: ast.FunctionDef | ast.AsyncFunctionDef,
) -> Iterator[tuple[ast.expr, ast.AST, str, list[ast.stmt]]]:
    """(lock expression, where taken, how, the statements run holding it) in a function's
    own code (nested functions are their own)."""
    for node in _own_nodes(root):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if isinstance(item.context_expr, ast.Name | ast.Attribute):
                    yield item.context_expr, node, "with", node.body
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list):
                yield from _acquired(stmts)
        if isinstance(node, ast.Try | ast.TryStar):
            for handler in node.handlers:
                yield from _acquired(handler.body)


def _acquired(
    stmts: list[ast.stmt],
) -> Iterator[tuple[ast.expr, ast.AST, str, list[ast.stmt]]]:
    """`LOCK.acquire()` in a statement list: held until the matching `release()` statement,
    through a `try` whose `finally` releases it, or to the end of the list."""
    for i, stmt in enumerate(stmts):
        lock = _acquire_of(stmt)
        if lock is None:
            continue
        if isinstance(stmt, ast.If):  # `if LOCK.acquire(timeout=1):` holds it in the body
            yield lock, stmt, "acquire", stmt.body
            continue
        held: list[ast.stmt] = []
        for later in stmts[i + 1 :]:
            if _releases(later, lock):
                break
            held.append(later)
            if isinstance(later, ast.Try | ast.TryStar) and any(
                _releases(s, lock) for s in later.finalbody
            ):
                break
        yield lock, stmt, "acquire", held


def _acquire_of(stmt: ast.stmt) -> ast.expr | None:
    value: ast.expr | None = None
    if isinstance(stmt, ast.Expr | ast.Assign):
        value = stmt.value
    elif isinstance(stmt, ast.If):
        value = stmt.test
    if isinstance(value, ast.Await):
        value = value.value
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "acquire"
        and isinstance(value.func.value, ast.Name | ast.Attribute)
        and not _try_lock(value)
    ):
        return value.func.value
    return None


def _try_lock(call: ast.Call) -> bool:
    """`acquire(blocking=False)` / `acquire(False)`: a request that finds it taken is turned
    away, not queued."""
    flag = next((k.value for k in call.keywords if k.arg == "blocking"), None)
    if flag is None and call.args:
        flag = call.args[0]
    return isinstance(flag, ast.Constant) and flag.value is False


def _releases(stmt: ast.stmt, lock: ast.expr) -> bool:
    if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
        return False
    func = stmt.value.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "release"
        and ast.dump(func.value) == ast.dump(lock)
    )


def _sites(func: FunctionInfo, body: list[ast.stmt]) -> tuple[CallSite, ...]:
    inside: set[int] = set()
    for stmt in body:
        inside.update(id(n) for n in _own_nodes(stmt))
    return tuple(s for s in func.calls if id(s.node) in inside)


def _own_nodes(root: ast.AST) -> Iterator[ast.AST]:
    """`root` and the nodes under it, not entering nested functions or classes."""
    pending = [root]
    while pending:
        node = pending.pop()
        yield node
        pending.extend(
            child
            for child in ast.iter_child_nodes(node)
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        )


def _decorator_lock(
    index: PythonIndex, table: _LockTable, func: FunctionInfo, decorator: ast.expr
) -> tuple[str, SharedLock, str] | None:
    """A repo decorator (`@synchronized`, `@synchronized(LOCK)`) whose wrapper calls the
    decorated function while holding a shared lock: the lock as written, the lock, and the
    decorator's name."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if not isinstance(target, ast.Name | ast.Attribute):
        return None
    maker = index.callee(target, func.parent, func.module)
    if maker is None:
        return None
    for inner in _nest(maker):
        wrapped = _parameters(inner) | {p for f in _enclosing(inner, maker) for p in _parameters(f)}
        for text, _, _, body in _regions(inner.node):
            calls = [n for s in body for n in _own_nodes(s) if isinstance(n, ast.Call)]
            if not any(isinstance(c.func, ast.Name) and c.func.id in wrapped for c in calls):
                continue
            lock = table.resolve(text, inner)
            if lock is None and isinstance(text, ast.Name) and isinstance(decorator, ast.Call):
                # `@synchronized(_LOCK)`: the factory's parameter is what the route passes
                passed = _argument(maker, text.id, decorator)
                if passed is not None:
                    lock = table.resolve(passed, func)
                    text = passed
            if lock is not None:
                return unparse(text), lock, dotted(target)
    return None


def _nest(func: FunctionInfo) -> Iterator[FunctionInfo]:
    yield func
    for inner in func.nested.values():
        yield from _nest(inner)


def _enclosing(func: FunctionInfo, top: FunctionInfo) -> Iterator[FunctionInfo]:
    scope = func.parent
    while scope is not None:
        yield scope
        if scope is top:
            return
        scope = scope.parent


def _parameters(func: FunctionInfo) -> set[str]:
    args = func.node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _argument(maker: FunctionInfo, name: str, call: ast.Call) -> ast.expr | None:
    args = maker.node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    if name in names and names.index(name) < len(call.args):
        return call.args[names.index(name)]
    return next((k.value for k in call.keywords if k.arg == name), None)


# -- the model call under it ----------------------------------------------------------------
def _model_call(
    index: PythonIndex,
    scope: Scope,
    func: FunctionInfo,
    site: CallSite,
    via: tuple[str, ...],
    seen: set[int],
) -> tuple[str, tuple[str, ...]] | None:
    """The model call `site` makes, directly or through repo functions, and the functions
    between; None when it makes none on the request path."""
    if site.flags & (Flag.OFF_PATH | Flag.ONCE | Flag.MAIN):
        return None  # not waited for, or run once: the lock is not held per request
    callee = index.callee(site.target, func, func.module)
    if callee is not None:
        if callee.cached or id(callee) in seen or len(via) >= _MAX_DEPTH:
            return None
        seen.add(id(callee))
        for inner in callee.calls:
            found = _model_call(index, scope, callee, inner, (*via, callee.name), seen)
            if found is not None:
                return found
        return None
    scope.module, scope.ctx, scope.function, scope.flags = func.module, func.module.ctx, func, 0
    if isinstance(site.node, ast.Call) and site.target is site.node.func:
        if site.flags & Flag.AWAITED:
            return None  # an awaited call is a client's, not a model computed here
        what = scope.model_call(site.node)
        return (what, via) if what is not None else None
    # a callable handed to a thread (`run_in_threadpool(model.predict, X)`), awaited under it
    target = site.target
    if isinstance(target, ast.Attribute):
        receiver = scope.binding(target.value)
        known = receiver is not None and receiver.kind is BindingKind.MODEL
        if target.attr in kc.MODEL_METHODS or (
            known and target.attr in kc.MODEL_METHODS_ON_KNOWN_MODEL
        ):
            return _text(target), via
    holder = scope.binding(target)
    if holder is not None and holder.kind is BindingKind.MODEL:
        return _text(target), via
    return None


def _text(target: ast.expr) -> str:
    text = dotted(target)
    return text[5:] if text.startswith("self.") else text


# -- which locks are shared -----------------------------------------------------------------
class _LockTable:
    """Every lock the repo makes where one object serves all requests."""

    def __init__(self, index: PythonIndex) -> None:
        self.index = index
        self.locks: dict[tuple[str, str, str], SharedLock] = {}
        self._shared: dict[str, str | None] = {}
        for module in index.modules.values():
            self._scan(module)

    def _scan(self, module: ModuleInfo) -> None:
        for stmt in _module_statements(module.ctx.tree):
            for target, kind in _lock_assignments(stmt, module):
                if isinstance(target, ast.Name):
                    self._add("module", module.name, target.id, kind, module, stmt)
                elif isinstance(target, ast.Attribute) and dotted(target.value).endswith("state"):
                    self._add("state", "app.state", target.attr, kind, module, stmt)
        for cls in module.all_classes:
            for stmt in cls.node.body:
                for target, kind in _lock_assignments(stmt, module):
                    if isinstance(target, ast.Name):
                        self._add("class", cls.qualname, target.id, kind, module, stmt)
        for func in module.all_functions:
            for node in _own_nodes(func.node):
                if not isinstance(node, ast.stmt):
                    continue
                for target, kind in _lock_assignments(node, module):
                    self._function_lock(func, target, kind, node)

    def _function_lock(
        self, func: FunctionInfo, target: ast.expr, kind: str, node: ast.stmt
    ) -> None:
        module = func.module
        if isinstance(target, ast.Name) and target.id in func.globals:
            self._add("module", module.name, target.id, kind, module, node)
        elif isinstance(target, ast.Attribute):
            base = target.value
            if isinstance(base, ast.Name) and base.id in {"self", "cls"} and func.cls is not None:
                scope = "instance" if base.id == "self" else "class"
                self._add(scope, func.cls.qualname, target.attr, kind, module, node)
            elif dotted(base).endswith("state"):
                self._add("state", "app.state", target.attr, kind, module, node)
        # a plain local: a lock per call, shared by nothing

    def _add(
        self, scope: str, owner: str, name: str, kind: str, module: ModuleInfo, node: ast.AST
    ) -> None:
        key = ("state" if scope == "state" else "owner", owner, name)
        made = SharedLock(kind=kind, scope=scope, owner=owner, name=name, module=module, node=node)
        self.locks.setdefault(key, made)

    def resolve(self, expr: ast.expr, func: FunctionInfo) -> SharedLock | None:
        """The shared lock `expr` names inside `func`, or None (a local, a parameter, an
        object made per request, or something that is no lock)."""
        module = func.module
        if isinstance(expr, ast.Name):
            if _local(func, expr.id):
                return None
            found = self.locks.get(("owner", module.name, expr.id))
            if found is None and expr.id in module.ctx.imports:
                found = self._by_qualified(module.ctx.imports[expr.id])
            return found
        if not isinstance(expr, ast.Attribute):
            return None
        base = expr.value
        if isinstance(base, ast.Name) and base.id in {"self", "cls"}:
            owner = _owner_class(func)
            return self._on_class(owner, expr.attr) if owner is not None else None
        if dotted(base).endswith("state"):
            return self.locks.get(("state", "app.state", expr.attr))
        qualified = module.ctx.qualified_name(expr)
        if qualified is not None:
            return self._by_qualified(qualified)
        holder = self.index.binding_of(base, func, module)
        if holder is not None and holder.kind is BindingKind.INSTANCE:
            cls = self.index.lookup(holder.origin)
            if isinstance(cls, ClassInfo):
                return self._on_class(cls, expr.attr)
        return None

    def _by_qualified(self, qualified: str) -> SharedLock | None:
        name_of_module, _, name = qualified.rpartition(".")
        found = self.index.module(name_of_module)
        return self.locks.get(("owner", found.name, name)) if found is not None else None

    def _on_class(self, cls: ClassInfo, attr: str, depth: int = 0) -> SharedLock | None:
        found = self.locks.get(("owner", cls.qualname, attr))
        if found is None and depth < _MAX_DEPTH:
            for base in cls.bases:
                parent = self.index.lookup(base)
                if isinstance(parent, ClassInfo):
                    found = self._on_class(parent, attr, depth + 1)
                    if found is not None:
                        break
        if found is None or found.scope != "instance":
            return found
        # an instance lock serialises requests only when the instance serves them all
        where = self._made_once(cls)
        if where is None:
            return None
        return SharedLock(
            kind=found.kind,
            scope="instance",
            owner=cls.qualname,
            name=found.name,
            module=found.module,
            node=found.node,
            shared_by=where,
        )

    def _made_once(self, cls: ClassInfo) -> str | None:
        """Where one instance of `cls` (or a subclass) is made for every request: at module
        level, in a cached function, under a lazy guard, or in code no route runs."""
        if cls.qualname not in self._shared:
            self._shared[cls.qualname] = None
            self._shared[cls.qualname] = self._find_made_once(cls)
        return self._shared[cls.qualname]

    def _find_made_once(self, cls: ClassInfo) -> str | None:
        index = self.index
        for module in index.modules.values():
            for stmt in _module_statements(module.ctx.tree):
                for node in _own_nodes(stmt):
                    if isinstance(node, ast.Call) and self._makes(node, None, module, cls):
                        return f"at module level, {module.ctx.relpath}:{node.lineno}"
            for func in module.all_functions:
                for site in func.calls:
                    node = site.node
                    if not isinstance(node, ast.Call) or site.target is not node.func:
                        continue
                    if not self._makes(node, func, module, cls):
                        continue
                    where = f"{module.ctx.relpath}:{node.lineno}"
                    if func.cached:
                        return f"once by the cached `{func.name}`, {where}"
                    if site.flags & Flag.ONCE:
                        return f"once, under a lazy guard in `{func.name}`, {where}"
                    if not index.reaches(func):
                        return f"once in `{func.name}`, which no route runs, {where}"
        return None

    def _makes(
        self, call: ast.Call, func: FunctionInfo | None, module: ModuleInfo, cls: ClassInfo
    ) -> bool:
        made = self.index.class_called(call.func, func, module)
        if made is None:
            return False
        return made is cls or cls.qualname in self.index.base_names(made)


def _local(func: FunctionInfo, name: str) -> bool:
    """Whether `name` is a local of `func` or of a function around it (assigned there or
    a parameter), not declared `global`."""
    scope: FunctionInfo | None = func
    while scope is not None:
        if name in scope.globals:
            return False
        if name in _parameters(scope):
            return True
        for node in _own_nodes(scope.node):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                targets = [node.target]
            elif isinstance(node, ast.With | ast.AsyncWith):
                targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        scope = scope.parent
    return False


def _lock_assignments(stmt: ast.AST, module: ModuleInfo) -> Iterator[tuple[ast.expr, str]]:
    if isinstance(stmt, ast.Assign):
        targets, value = stmt.targets, stmt.value
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        targets, value = [stmt.target], stmt.value
    else:
        return
    kind = lock_kind(value, module)
    if kind is not None:
        for target in targets:
            yield target, kind


def lock_kind(value: ast.expr, module: ModuleInfo) -> str | None:
    """How to name the lock `value` makes (`threading.Lock()`, `Semaphore(1)`), or None: not
    a lock, or a semaphore with more than one slot (or a count the code does not show)."""
    if not isinstance(value, ast.Call):
        return None
    qualified = module.ctx.qualified_name(value.func)
    if qualified in _LOCKS:
        return _LOCKS[qualified]
    if qualified not in _SEMAPHORES:
        return None
    count = next((k.value for k in value.keywords if k.arg == _SEMAPHORES[qualified]), None)
    if count is None and value.args:
        count = value.args[0]
    if count is not None and _constant_int(count, module) != 1:
        return None
    return "one-slot semaphore"


def _constant_int(expr: ast.expr, module: ModuleInfo) -> int | None:
    """An int literal, or a module-level name bound to one."""
    if isinstance(expr, ast.Constant) and type(expr.value) is int:
        return expr.value
    if isinstance(expr, ast.Name):
        for stmt in module.ctx.tree.body:
            if (
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == expr.id for t in stmt.targets)
                and isinstance(stmt.value, ast.Constant)
                and type(stmt.value.value) is int
            ):
                return stmt.value.value
    return None
