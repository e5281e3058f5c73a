"""Lazily built models: a model loaded (or trained) by the first request that needs it.

A load is lazy when the route reaches it through a lazy-initialisation guard
(`if model is None:`, `if "model" not in state:`) or a cached function (`@lru_cache`): it
runs once, but inside a request. The *initializer* is the function whose call performs the
load once: the function holding the guard, or the cached function. The load is made at
start-up when a start-up root reaches the initializer (or the loading function), or when
start-up code stores a value in the same holder: module-level code, a lifespan or
`on_startup` handler, `@app.on_event("startup")`, Flask `before_first_request`, an app
factory (a function that makes the app), gunicorn server hooks. A readiness or health
route that reaches the initializer or reads the holder gates traffic on the load.

Guards keyed by request data (`if name not in models:` with `name` from the request) are a
per-key model registry, not a cold start, and are not reported.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import dotted
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.route_kinds import (
    is_health_path,
    is_model_loading_route,
    is_readiness_path,
)
from infermedic.audit.python.routes import RouteInfo
from infermedic.audit.python.walker import Flag, FunctionInfo, ModuleInfo

_MAX_CHAIN = 12
# Frameworks that call a model's `load()` themselves before serving.
_SELF_LOADING = frozenset({"kserve", "bentoml", "ray"})
# Decorators and registration calls that run a function at start-up.
_STARTUP_DECORATORS = frozenset(
    {
        "before_first_request",
        "before_app_first_request",
        "before_serving",
        "on_startup",
        "startup",
        "after_startup",
    }
)
_EVENT_DECORATORS = frozenset({"on_event", "listener", "register_listener", "add_event_handler"})
_STARTUP_WORDS = ("startup", "start_up", "lifespan", "before_first_request", "before_serving")
_GUNICORN_HOOKS = frozenset({"on_starting", "when_ready", "post_fork", "post_worker_init"})
_FACTORY_APPS = frozenset(
    {
        "fastapi.FastAPI",
        "starlette.applications.Starlette",
        "flask.Flask",
        "quart.Quart",
        "sanic.Sanic",
        "aiohttp.web.Application",
        "litestar.Litestar",
    }
)
_TRAINING_METHODS = frozenset({"fit", "train"})


@dataclass(frozen=True, kw_only=True)
class LazyLoad:
    """One model load a request performs once, on first use."""

    route: RouteInfo
    chain: tuple[str, ...]  # route → … → the function that loads
    initializer: FunctionInfo  # the function whose first call loads (guard holder or cache)
    form: str  # "guard" (`if model is None:`) or "cache" (`@lru_cache`)
    node: ast.AST  # where to report: the guarded call, or the load in the cached function
    loader: str  # the loading call as written (`joblib.load`, `train_model`, `pipeline.fit`)
    holder: str  # what is filled: `_model`, `state["model"]`, `self._model`, or the cache
    tokens: frozenset[tuple[str, str]]  # the holder as ("name"|"attr"|"key", text)


def lazy_loads(index: PythonIndex) -> Iterator[LazyLoad]:
    """Every lazy model load reached from a prediction route, once per initializer and load
    site, that no start-up code loads and no readiness route waits for."""
    startup, stored = _startup(index)
    ready = [r for r in index.routes if is_readiness_path(r.path) or is_health_path(r.path)]
    gates = [_reached(index, [r.function]) for r in ready]
    seen: set[tuple[int, int]] = set()
    for route in index.routes:
        if route.framework in _SELF_LOADING or is_model_loading_route(route):
            continue
        if is_readiness_path(route.path) or is_health_path(route.path):
            continue
        for found in _from_route(index, route):
            key = (id(found.initializer), id(found.node))
            if key in seen:
                continue
            seen.add(key)
            if id(found.initializer) in startup or found.tokens & stored:
                continue  # loaded at start-up too: the lazy path is a fallback
            if any(_gates(index, reached, found) for reached in gates):
                continue  # a readiness route waits for it (or its probe triggers the load)
            yield found


def readiness_routes(index: PythonIndex) -> list[RouteInfo]:
    return [r for r in index.routes if is_readiness_path(r.path)]


# -- from a route to its lazy loads ---------------------------------------------------------
def _from_route(index: PythonIndex, route: RouteInfo) -> Iterator[LazyLoad]:
    # (function, chain, initializer, form, node where the initializer starts the load)
    start: tuple[FunctionInfo, tuple[str, ...], FunctionInfo | None, str, ast.AST | None] = (
        route.function,
        (route.function.name,),
        None,
        "",
        None,
    )
    queue = deque([start])
    seen: set[tuple[int, int]] = set()
    while queue:
        func, chain, init, form, at = queue.popleft()
        key = (id(func), id(init))
        if key in seen:
            continue
        seen.add(key)
        if init is None and func.cached and func is not route.function:
            init, form = func, "cache"
        for site in func.calls:
            if site.flags & (Flag.OFF_PATH | Flag.MAIN):
                continue
            once = bool(site.flags & Flag.ONCE) and not _keyed_by_request(func, site.node)
            site_init, site_form, site_at = init, form, at
            if site_init is None and once:
                site_init, site_form, site_at = func, "guard", site.node
            elif site_init is func and site_at is None:
                site_at = site.node
            loader = _loader(index, func, site.target, site.node)
            if loader is not None:
                if site_init is not None and isinstance(site.node, ast.Call):
                    yield _found(index, route, chain, site_init, site_form, site_at, loader)
                continue
            callee = index.callee(site.target, func, func.module)
            if callee is None or len(chain) >= _MAX_CHAIN:
                continue
            if site_init is None and callee.cached and not _constant_args(site.node):
                continue  # a cache keyed by the request: a model per key, not a cold start
            queue.append((callee, (*chain, callee.name), site_init, site_form, site_at))


def _found(
    index: PythonIndex,
    route: RouteInfo,
    chain: tuple[str, ...],
    init: FunctionInfo,
    form: str,
    at: ast.AST | None,
    loader: str,
) -> LazyLoad:
    node = at if at is not None else init.node
    if form == "guard" and isinstance(at, ast.Call) and dotted(at.func):
        loader = dotted(at.func)  # the guarded call (`train_model`), not what it runs
    holder, tokens = _holder(init, node) if form == "guard" else (f"{init.name}()", frozenset())
    return LazyLoad(
        route=route,
        chain=chain,
        initializer=init,
        form=form,
        node=node,
        loader=loader,
        holder=holder,
        tokens=tokens | {("name", init.name)} if form == "cache" else tokens,
    )


def _loader(index: PythonIndex, func: FunctionInfo, target: ast.expr, node: ast.AST) -> str | None:
    """The text of a call that loads or trains a model, or None (`net.train()` with no
    data switches a torch module's mode: not training)."""
    qualified = func.module.ctx.qualified_name(target)
    if qualified is not None and kc.is_model_loader(qualified):
        return qualified
    if isinstance(target, ast.Attribute):
        if target.attr in {"from_pretrained", "load_model"} and qualified is None:
            return dotted(target)
        trains = isinstance(node, ast.Call) and bool(node.args or node.keywords)
        if target.attr in _TRAINING_METHODS and trains:
            return None if index.callee(target, func, func.module) else dotted(target)
    return None


def _constant_args(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    values = [*node.args, *(k.value for k in node.keywords)]
    return all(isinstance(v, ast.Constant) for v in values)


def _keyed_by_request(func: FunctionInfo, node: ast.AST) -> bool:
    """Whether the lazy guard around `node` tests request data (a parameter, or a local
    computed from one before the guard): `if name not in models:` loads one model per name."""
    for guard in _guards(func.node, node):
        names = {n.id for n in ast.walk(guard.test) if isinstance(n, ast.Name)}
        if names & _tainted(func, guard.lineno):
            return True
    return False


def _tainted(func: FunctionInfo, before: int) -> set[str]:
    """The function's parameters, and the names assigned from them before line `before`."""
    args = func.node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    tainted = {a.arg for a in every if a is not None and a.arg not in {"self", "cls"}}
    for stmt in ast.walk(func.node):
        if isinstance(stmt, ast.Assign) and stmt.lineno < before:
            used = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
            if used & tainted:
                for target in stmt.targets:
                    tainted |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return tainted


def _guards(root: ast.AST, node: ast.AST) -> list[ast.If]:
    """The `if` statements of `root`'s own body (not nested functions) whose body holds
    `node`."""
    found: list[ast.If] = []

    def visit(current: ast.AST, outer: list[ast.If]) -> bool:
        if current is node:
            found.extend(outer)
            return True
        for child in ast.iter_child_nodes(current):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(current, ast.If) and child in current.body:
                if visit(child, [*outer, current]):
                    return True
            elif visit(child, outer):
                return True
        return False

    visit(root, [])
    return found


def _holder(init: FunctionInfo, node: ast.AST) -> tuple[str, frozenset[tuple[str, str]]]:
    """What the guarded load fills: the target of the assignment around `node` (or of the
    guard's assignments), as text and as tokens."""
    targets: list[ast.expr] = []
    for stmt in ast.walk(init.node):
        value = getattr(stmt, "value", None)
        if (
            isinstance(stmt, ast.Assign | ast.AnnAssign)
            and value is not None
            and any(sub is node for sub in ast.walk(value))
        ):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            break
    if not targets:
        for guard in _guards(init.node, node)[-1:]:
            for sub in ast.walk(guard.test):
                if isinstance(sub, ast.Name | ast.Attribute | ast.Subscript):
                    targets = [sub]
                    break
    tokens = {t for target in targets for t in _tokens(target)}
    text = ast.unparse(targets[0]) if targets else "the model"
    return text, frozenset(tokens)


def _tokens(expr: ast.expr) -> set[tuple[str, str]]:
    if isinstance(expr, ast.Name):
        return {("name", expr.id)}
    if isinstance(expr, ast.Attribute):
        return {("attr", expr.attr)}
    if isinstance(expr, ast.Subscript):
        key = expr.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return {("key", key.value)}
        return _tokens(expr.value)
    return set()


# -- start-up ---------------------------------------------------------------------------
def _startup(index: PythonIndex) -> tuple[set[int], frozenset[tuple[str, str]]]:
    """The functions start-up code reaches (ids), and the holders it fills with a value."""
    roots: list[FunctionInfo] = []
    stored: set[tuple[str, str]] = set()
    for module in index.modules.values():
        for stmt in _module_statements(module.ctx.tree):
            stored |= _stores(stmt)
            for call in _calls(stmt):
                roots.extend(_called_at_startup(index, module, call))
        gunicorn = "gunicorn" in module.ctx.relpath
        roots.extend(
            func
            for func in module.all_functions
            if _starts_up(index, module, func) or (gunicorn and func.name in _GUNICORN_HOOKS)
        )
    reached = _reached(index, roots)
    for module in index.modules.values():
        for func in module.all_functions:
            if id(func) in reached:
                for node in ast.walk(func.node):
                    stored |= _stores(node)
    return reached, frozenset(stored)


def _module_statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Module-level statements, also inside module-level `if`/`try`/`with`/`for` blocks."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        stmt = pending.pop(0)
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        yield stmt
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list):
                for item in inner:
                    if isinstance(item, ast.ExceptHandler):
                        pending.extend(item.body)
                    elif isinstance(item, ast.stmt):
                        pending.append(item)


def _calls(stmt: ast.stmt) -> Iterator[ast.Call]:
    """The calls of one module-level statement (not of the blocks under it)."""
    parts: list[ast.AST] = []
    for field, value in ast.iter_fields(stmt):
        if field in {"body", "orelse", "finalbody", "handlers"}:
            continue
        if isinstance(value, list):
            parts.extend(v for v in value if isinstance(v, ast.AST))
        elif isinstance(value, ast.AST):
            parts.append(value)
    for part in parts:
        for node in ast.walk(part):
            if isinstance(node, ast.Call):
                yield node


def _stores(stmt: ast.AST) -> set[tuple[str, str]]:
    """Holders a statement fills with something other than None."""
    if isinstance(stmt, ast.Assign):
        targets, value = stmt.targets, stmt.value
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        targets, value = [stmt.target], stmt.value
    else:
        return set()
    if isinstance(value, ast.Constant) or not isinstance(value, ast.Call | ast.Await):
        return set()  # `model = None`, `state = {}`: a placeholder, not a load
    return {t for target in targets for t in _tokens(target)}


def _called_at_startup(
    index: PythonIndex, module: ModuleInfo, call: ast.Call
) -> list[FunctionInfo]:
    """Repo functions a module-level call runs, or registers to run at start-up."""
    found: list[FunctionInfo] = []
    callee = index.callee(call.func, None, module)
    if callee is not None:
        found.append(callee)
    name = dotted(call.func).lower()
    registers = any(word in name for word in _STARTUP_WORDS) or name.rsplit(".", 1)[-1] in (
        _EVENT_DECORATORS | _STARTUP_DECORATORS
    )
    handed: list[ast.expr] = list(call.args) if registers else []
    handed += [
        k.value
        for k in call.keywords
        if k.arg is not None and any(word in k.arg for word in _STARTUP_WORDS)
    ]
    for value in handed:
        items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
        for item in items:
            if isinstance(item, ast.Name | ast.Attribute):
                target = index.callee(item, None, module)
                if target is not None:
                    found.append(target)
    return found


def _starts_up(index: PythonIndex, module: ModuleInfo, func: FunctionInfo) -> bool:
    """A start-up handler (by its decorator) or an app factory (it makes the app)."""
    for decorator in func.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        last = dotted(target).rsplit(".", 1)[-1]
        if last in _STARTUP_DECORATORS:
            return True
        if last in _EVENT_DECORATORS and isinstance(decorator, ast.Call) and decorator.args:
            event = decorator.args[0]
            if isinstance(event, ast.Constant) and "start" in str(event.value):
                return True
    return any(module.ctx.qualified_name(site.target) in _FACTORY_APPS for site in func.calls)


def _reached(index: PythonIndex, roots: list[FunctionInfo]) -> set[int]:
    """Ids of every function `roots` reach through any call (lazy, cached, threaded)."""
    seen: set[int] = set()
    queue = deque(roots)
    while queue:
        func = queue.popleft()
        if id(func) in seen:
            continue
        seen.add(id(func))
        for site in func.calls:
            callee = index.callee(site.target, func, func.module)
            if callee is not None and id(callee) not in seen:
                queue.append(callee)
        queue.extend(f for f in func.nested.values() if _is_lifespan_body(f))
    return seen


def _is_lifespan_body(func: FunctionInfo) -> bool:
    return any("contextmanager" in d for d in func.decorators)


def _gates(index: PythonIndex, reached: set[int], found: LazyLoad) -> bool:
    """Whether a readiness route (the functions it reaches) waits for this load."""
    if id(found.initializer) in reached:
        return True
    for module in index.modules.values():
        for func in module.all_functions:
            if id(func) in reached and _reads(func.node, found.tokens):
                return True
    return False


def _reads(node: ast.AST, tokens: frozenset[tuple[str, str]]) -> bool:
    names = {text for kind, text in tokens if kind == "name"}
    attrs = {text for kind, text in tokens if kind == "attr"}
    keys = {text for kind, text in tokens if kind == "key"}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in names:
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in attrs:
            return True
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in keys:
            return True
    return False
