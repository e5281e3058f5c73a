"""What the service's repository tells a probe: its prediction route and example request bodies.

The route comes from the audit's route index (with router and blueprint prefixes applied);
example bodies come from the repo's tests (`client.post("/predict", json={...})`), read with
`ast.literal_eval` only: no user code is ever imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infermedic.audit.project import FileKind
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.routes import RouteInfo
from infermedic.audit.python.rule import Scope
from infermedic.audit.python.walker import FunctionInfo, ModuleInfo
from infermedic.errors import InputError
from infermedic.settings import Settings

PREDICT_WORDS = ("predict", "invocations", "infer", "score", "classify", "forecast")
MAX_EXAMPLES = 50
MAX_EXAMPLE_CHARS = 64 * 1024  # a literal larger than this is data, not a request example
_PREFIX_KEYWORDS = ("prefix", "url_prefix")
_ROUTER_CONSTRUCTORS = ("APIRouter", "Blueprint", "Router")
_AIOHTTP_VERBS = frozenset({"post", "get", "put", "patch", "delete"})
_INCLUDE_METHODS = frozenset({"include_router", "register_blueprint"})
_BODY_KEYWORDS = ("json", "data", "content")


@dataclass(frozen=True, kw_only=True)
class RepoRoute:
    """A route the repo defines, its path with every prefix applied."""

    method: str
    path: str
    handler: str
    file: str
    line: int
    reaches_model: bool

    @property
    def where(self) -> str:
        return f"{self.handler} ({self.file}:{self.line})"


@dataclass(frozen=True, kw_only=True)
class RequestExample:
    """A literal request body a repo test posts to `path`."""

    path: str
    body: Any
    source: str  # file:line


@dataclass(frozen=True, kw_only=True)
class RepoHints:
    """The routes and request examples found in a repository, and the route chosen."""

    routes: tuple[RepoRoute, ...] = ()
    predict: RepoRoute | None = None
    predict_reason: str = ""
    examples: tuple[RequestExample, ...] = ()
    notes: tuple[str, ...] = ()

    def example_for(self, path: str) -> RequestExample | None:
        """The first test example posted to `path` (a URL ending in it counts)."""
        return next((e for e in self.examples if _same_route(e.path, path)), None)

    def examples_for(self, path: str) -> tuple[RequestExample, ...]:
        """Every test example posted to `path`."""
        return tuple(e for e in self.examples if _same_route(e.path, path))


def repo_hints(repo: Path, settings: Settings | None = None) -> RepoHints:
    """Index the repo's Python files and return its routes, the prediction route and examples.

    Raises `InputError` when `repo` is not a directory.
    """
    from infermedic.audit.discover import discover
    from infermedic.audit.python.runner import run_python

    if not repo.is_dir():
        raise InputError(f"--repo {repo} is not a directory")
    settings = settings or Settings()
    found = discover([repo], exclude=settings.exclude)
    python_files = [f for f in found.files if f.kind is FileKind.PYTHON]
    tests = [f for f in python_files if _is_test_file(f.relpath)]
    served = [f for f in python_files if not _is_test_file(f.relpath)]
    run = run_python(served, [], settings)
    routes = indexed_routes(run.index, settings)
    known = {(r.method, r.path) for r in routes}
    routes += tuple(
        r for r in aiohttp_routes(run.index, settings) if (r.method, r.path) not in known
    )
    predict, reason = choose_predict_route(routes)
    examples: list[RequestExample] = []
    notes = [n.message for n in run.notifications]
    trees: list[tuple[str, ast.Module]] = []
    for source in tests:
        try:
            trees.append((source.relpath, ast.parse(source.read_text(), filename=source.relpath)))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
            notes.append(f"{source.relpath}: not read for request examples ({exc})")
    # pytest fixtures in conftest.py files are visible to every test module
    shared: dict[str, Any] = {}
    for relpath, tree in trees:
        if relpath.rsplit("/", 1)[-1] == "conftest.py":
            shared.update(_literal_names(tree.body))
    for relpath, tree in trees:
        examples.extend(request_examples(tree, relpath, shared))
        if len(examples) >= MAX_EXAMPLES:
            break
    return RepoHints(
        routes=routes,
        predict=predict,
        predict_reason=reason,
        examples=tuple(examples[:MAX_EXAMPLES]),
        notes=tuple(notes),
    )


def _is_test_file(relpath: str) -> bool:
    parts = relpath.split("/")
    name = parts[-1]
    return (
        any(p in {"tests", "test"} for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


# -- routes ------------------------------------------------------------------------------------
def indexed_routes(index: PythonIndex, settings: Settings | None = None) -> tuple[RepoRoute, ...]:
    """Every route of the index with its full path, and whether its handler reaches a model."""
    prefixes = _Prefixes(index)
    model_routes = _routes_reaching_model(index, settings or Settings())
    return tuple(
        RepoRoute(
            method=method,
            path=prefixes.full_path(route),
            handler=route.function.qualname,
            file=route.function.module.ctx.relpath,
            line=route.line,
            reaches_model=id(route) in model_routes,
        )
        for route in index.routes
        for method in route.methods
    )


def aiohttp_routes(index: PythonIndex, settings: Settings | None = None) -> tuple[RepoRoute, ...]:
    """aiohttp's routes, which the audit's index does not list: `web.post("/p", handler)`,
    `web.route("POST", "/p", handler)`, `router.add_post("/p", handler)` and
    `router.add_route("POST", "/p", handler)`, with whether the handler reaches a model."""
    scope = Scope(index, settings or Settings())
    found: list[RepoRoute] = []
    for module in index.modules.values():
        for node in ast.walk(module.ctx.tree):
            if not isinstance(node, ast.Call):
                continue
            spec = _aiohttp_route(node, module)
            if spec is None:
                continue
            method, path, handler_expr = spec
            handler = index.callee(handler_expr, None, module)
            if handler is None:
                continue
            found.append(
                RepoRoute(
                    method=method,
                    path=path,
                    handler=handler.qualname,
                    file=module.ctx.relpath,
                    line=node.lineno,
                    reaches_model=_reaches_model(index, scope, handler),
                )
            )
    return tuple(found)


def _aiohttp_route(call: ast.Call, module: ModuleInfo) -> tuple[str, str, ast.expr] | None:
    qualified = module.ctx.qualified_name(call.func) or ""
    attr = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    args = list(call.args)
    verb: str | None = None
    if qualified.startswith("aiohttp.web.") and attr in _AIOHTTP_VERBS:
        verb = attr.upper()
    elif attr.startswith("add_") and attr[4:] in _AIOHTTP_VERBS:
        verb = attr[4:].upper()
    elif (qualified == "aiohttp.web.route" or attr == "add_route") and len(args) >= 3:
        first = args[0]
        if isinstance(first, ast.Constant) and str(first.value).upper() in {"POST", "*"}:
            verb, args = str(first.value).upper(), args[1:]
    if verb is None or len(args) < 2:
        return None
    path = args[0]
    if not (isinstance(path, ast.Constant) and isinstance(path.value, str)):
        return None
    return verb, path.value, args[1]


def _reaches_model(index: PythonIndex, scope: Scope, start: FunctionInfo, depth: int = 8) -> bool:
    """Whether `start` or a repo function it calls (breadth-first, bounded) calls a model."""
    queue, seen = [(start, 0)], {id(start)}
    while queue:
        func, level = queue.pop(0)
        scope.module = func.module
        scope.ctx = func.module.ctx
        scope.function = func
        for site in func.calls:
            if isinstance(site.node, ast.Call):
                scope.flags = site.flags
                if scope.model_call(site.node) is not None:
                    return True
            callee = index.callee(site.target, func, func.module)
            if callee is not None and id(callee) not in seen and level < depth:
                seen.add(id(callee))
                queue.append((callee, level + 1))
    return False


def choose_predict_route(routes: tuple[RepoRoute, ...]) -> tuple[RepoRoute | None, str]:
    """The route most likely to make predictions, and why.

    A POST route (or one taking any method) with a literal path and no path parameters;
    among them those whose handler reaches a model call first, then a predict-like path or
    handler name (`predict`, `invocations`, `infer`, `score`…), then the declaration order.
    """
    candidates = [
        r
        for r in routes
        if r.method in {"POST", "*"} and r.path.startswith("/") and not _has_parameters(r.path)
    ]
    if not candidates:
        return None, "no POST route with a literal path in the repo's route index"

    def word_rank(route: RepoRoute) -> int:
        text = f"{route.path} {route.handler.rsplit('.', 1)[-1]}".lower()
        return next((i for i, w in enumerate(PREDICT_WORDS) if w in text), len(PREDICT_WORDS))

    model = [r for r in candidates if r.reaches_model]
    named = [r for r in candidates if word_rank(r) < len(PREDICT_WORDS)]
    if model:
        best = min(model, key=lambda r: (word_rank(r), r.method != "POST", r.file, r.line))
        others = len(model) - 1
        why = f"repo route index: POST {best.path} → {best.where} reaches a model call"
        return best, why + (f" ({others} other route(s) do too)" if others else "")
    if named:
        best = min(named, key=lambda r: (word_rank(r), r.method != "POST", r.file, r.line))
        return best, f"repo route index: POST {best.path} → {best.where} is named like prediction"
    if len(candidates) == 1:
        only = candidates[0]
        return only, f"repo route index: POST {only.path} → {only.where} is the only POST route"
    listed = ", ".join(sorted({r.path for r in candidates}))
    return None, f"repo route index: several POST routes ({listed}), none reaches a model call"


def _has_parameters(path: str) -> bool:
    return any(c in path for c in "{<?")


def _routes_reaching_model(index: PythonIndex, settings: Settings) -> set[int]:
    """ids of the `RouteInfo`s whose request path reaches a model computation."""
    scope = Scope(index, settings)
    found: set[int] = set()
    for module in index.modules.values():
        scope.module = module
        scope.ctx = module.ctx
        for func in module.all_functions:
            reaches = [r for r in index.reaches(func) if r.on_path]
            if not reaches or all(id(r.route) in found for r in reaches):
                continue
            scope.function = func
            for site in func.calls:
                if not isinstance(site.node, ast.Call):
                    continue
                scope.flags = site.flags
                if scope.model_call(site.node) is not None:
                    found.update(id(r.route) for r in reaches)
                    break
    return found


class _Prefixes:
    """Router and blueprint prefixes: `APIRouter(prefix=)`, `Blueprint(url_prefix=)`,
    `include_router(r, prefix=)`, `register_blueprint(bp, url_prefix=)` and Starlette
    `Mount("/v1", routes=[...])`, nested as far as they go."""

    def __init__(self, index: PythonIndex) -> None:
        self.index = index
        # (module name, variable) → its own prefix from the constructor
        self.own: dict[tuple[str, str], str] = {}
        # (module name, variable) → (prefix added where it is included, the parent, whether
        # that prefix replaces the variable's own: Flask's `register_blueprint(url_prefix=)`
        # does, FastAPI's `include_router(prefix=)` adds to it); the first inclusion wins
        self.included: dict[tuple[str, str], tuple[str, tuple[str, str] | None, bool]] = {}
        self.mounted: dict[int, str] = {}  # id(Route call) → Mount prefix
        for module in index.modules.values():
            self._scan(module)

    def _scan(self, module: ModuleInfo) -> None:
        tree = module.ctx.tree
        # `api = [Route(...), ...]` handed to `Mount("/v1", routes=api)` later in the module
        lists = {
            target.id: node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.List | ast.Tuple)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and _dotted(node.value.func).endswith(_ROUTER_CONSTRUCTORS)
            ):
                prefix = _keyword_text(node.value, _PREFIX_KEYWORDS)
                if prefix is not None:
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            self.own[(module.name, target.id)] = prefix
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in _INCLUDE_METHODS and node.args:
                child = self._variable(node.args[0], module)
                if child is None:
                    continue
                parent = self._variable(func.value, module)
                added = _keyword_text(node, _PREFIX_KEYWORDS)
                replaces = added is not None and func.attr == "register_blueprint"
                self.included.setdefault(child, (added or "", parent, replaces))
            elif (module.ctx.qualified_name(func) or "").endswith("Mount") and node.args:
                mount = node.args[0]
                if isinstance(mount, ast.Constant) and isinstance(mount.value, str):
                    # ast.walk meets an outer Mount before the Mounts inside it
                    own = mount.value.rstrip("/")
                    inside: list[ast.AST] = [node]
                    routes = next((k.value for k in node.keywords if k.arg == "routes"), None)
                    if isinstance(routes, ast.Name) and routes.id in lists:
                        inside.append(lists[routes.id])
                    for part in inside:
                        for inner in ast.walk(part):
                            if inner is not node and isinstance(inner, ast.Call):
                                self.mounted[id(inner)] = self.mounted.get(id(inner), "") + own

    def _variable(self, expr: ast.expr, module: ModuleInfo) -> tuple[str, str] | None:
        """(module, name) a router expression refers to, following one import."""
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            imported = module.ctx.imports.get(expr.value.id)
            target = self.index.module(imported) if imported else None
            return (target.name, expr.attr) if target is not None else None
        if not isinstance(expr, ast.Name):
            return None
        imported = module.ctx.imports.get(expr.id)
        if imported and "." in imported:
            owner, name = imported.rsplit(".", 1)
            target = self.index.module(owner)
            if target is not None:
                return (target.name, name)
        return (module.name, expr.id)

    def chain(self, variable: tuple[str, str] | None) -> str:
        """The prefix of everything registered on `variable`, outermost first."""
        parts: list[str] = []
        seen: set[tuple[str, str]] = set()
        while variable is not None and variable not in seen:
            seen.add(variable)
            added, parent, replaces = self.included.get(variable, ("", None, False))
            if not replaces:
                parts.append(self.own.get(variable, ""))
            parts.append(added)
            variable = parent
        return "".join(p.rstrip("/") for p in reversed(parts) if p)

    def full_path(self, route: RouteInfo) -> str:
        if not route.path.startswith("/") and route.path != "":
            return route.path
        prefix = ""
        owner = self._registering_expr(route)
        if owner is not None:
            prefix = self.chain(self._variable(*owner))
        registration = self._registration_call(route)
        if registration is not None:
            prefix = self.mounted.get(id(registration[0]), "") + prefix
        path = route.path or "/"
        if prefix and path.startswith(prefix + "/"):
            return path  # already prefixed (the index may apply prefixes itself)
        return (prefix + path) if prefix else path

    def _registering_expr(self, route: RouteInfo) -> tuple[ast.expr, ModuleInfo] | None:
        """`router` in `@router.post(...)` or `router.add_api_route(...)`, and its module."""
        for decorator in route.function.node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and decorator.lineno == route.line
            ):
                return decorator.func.value, route.function.module
        registration = self._registration_call(route)
        if registration is not None and isinstance(registration[0].func, ast.Attribute):
            return registration[0].func.value, registration[1]
        return None

    def _registration_call(self, route: RouteInfo) -> tuple[ast.Call, ModuleInfo] | None:
        """The `add_api_route`/`add_url_rule`/`Route(...)` call that registered `route`."""
        name = route.function.name
        for module in self.index.modules.values():
            for call, _owner in module.registrations:
                if call.lineno == route.line and any(
                    (isinstance(n, ast.Name) and n.id == name)
                    or (isinstance(n, ast.Attribute) and n.attr == name)
                    for n in ast.walk(call)
                ):
                    return call, module
        return None


def _keyword_text(call: ast.Call, names: tuple[str, ...]) -> str | None:
    for keyword in call.keywords:
        if (
            keyword.arg in names
            and isinstance(keyword.value, ast.Constant)
            and isinstance(keyword.value.value, str)
        ):
            return keyword.value.value
    return None


def _same_route(posted: str, path: str) -> bool:
    """Whether a test's posted URL is `path`: the same path, once a scheme and host
    (`http://127.0.0.1:8000/predict`) or a computed base (`{}/predict`) are taken off."""
    posted = posted.split("?", 1)[0]
    if "{}" in posted:
        posted = posted.rsplit("{}", 1)[1]
    elif "://" in posted:
        posted = urlsplit(posted).path
    return (posted.rstrip("/") or "/") == (path.rstrip("/") or "/")


# -- request examples from tests ---------------------------------------------------------------
def request_examples(
    tree: ast.AST, relpath: str, shared: Mapping[str, Any] | None = None
) -> Iterator[RequestExample]:
    """`X.post("/path", json=<literal>)` calls in a test module, with the literal read by
    `ast.literal_eval`. A name counts when it holds a literal: assigned in the same function
    or module, or a function (a pytest fixture) that returns one, here or in `shared`."""
    module_literals = {
        **(shared or {}),
        **_literal_names(tree.body if isinstance(tree, ast.Module) else []),
    }
    innermost: dict[int, ast.AST] = {}
    # ast.walk is breadth-first, so an inner function overwrites its outer one
    for scope_node in ast.walk(tree):
        if isinstance(scope_node, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(scope_node):
                innermost[id(node)] = scope_node
    scopes: dict[int, Mapping[str, Any]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = innermost.get(id(node))
        names: Mapping[str, Any] = module_literals
        if function is not None:
            if id(function) not in scopes:
                scopes[id(function)] = {
                    **module_literals,
                    **_literal_names(list(ast.walk(function))),
                }
            names = scopes[id(function)]
        example = _example_from_call(node, names, relpath)
        if example is not None:
            yield example


def _literal_names(statements: list[Any]) -> dict[str, Any]:
    """Names bound to a literal dict or list: `X = {...}`, or `def x(): return {...}`."""
    names: dict[str, Any] = {}
    for node in statements:
        if isinstance(node, ast.FunctionDef) and node.body:
            last = node.body[-1]
            if isinstance(last, ast.Return) and last.value is not None:
                value = _literal(last.value)
                if value is not _NOT_LITERAL:
                    names[node.name] = value
            continue
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            value = _literal(node.value)
            if value is not _NOT_LITERAL:
                names[node.targets[0].id] = value
    return names


_NOT_LITERAL: Any = object()


def _literal(node: ast.expr) -> Any:
    if not isinstance(node, ast.Dict | ast.List):
        return _NOT_LITERAL
    if node.end_col_offset is not None and _size(node) > MAX_EXAMPLE_CHARS:
        return _NOT_LITERAL
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _size(node: ast.expr) -> int:
    lines = (node.end_lineno or node.lineno) - node.lineno
    return lines * 80 + (node.end_col_offset or 0)


def _example_from_call(
    call: ast.Call, names: Mapping[str, Any], relpath: str
) -> RequestExample | None:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr in {"post", "request"}):
        return None
    args = list(call.args)
    if func.attr == "request":
        method = args[0] if args else None
        if not (isinstance(method, ast.Constant) and str(method.value).upper() == "POST"):
            return None
        args = args[1:]
    path_node = args[0] if args else next((k.value for k in call.keywords if k.arg == "url"), None)
    path = _path_text(path_node)
    if path is None:
        return None
    for keyword in call.keywords:
        if keyword.arg not in _BODY_KEYWORDS:
            continue
        value = keyword.value
        if isinstance(value, ast.Call) and _dotted(value.func) in {"json.dumps", "dumps"}:
            if not value.args:
                continue
            value = value.args[0]
        body = names.get(value.id, _NOT_LITERAL) if isinstance(value, ast.Name) else _literal(value)
        if body is not _NOT_LITERAL:
            return RequestExample(path=path, body=body, source=f"{relpath}:{call.lineno}")
    return None


def _path_text(node: ast.expr | None) -> str | None:
    """A posted URL as text: a literal, or `{}` for each computed part (`f"{BASE}/predict"`,
    `BASE + "/predict"`) when the text ends in a literal path."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    parts: list[ast.expr] = []
    if isinstance(node, ast.JoinedStr):
        parts = list(node.values)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = [node.left, node.right]
    if not parts:
        return None
    last = parts[-1]
    if not (isinstance(last, ast.Constant) and isinstance(last.value, str) and "/" in last.value):
        return None
    return "".join(
        p.value if isinstance(p, ast.Constant) and isinstance(p.value, str) else "{}" for p in parts
    )


def _dotted(expr: ast.expr) -> str:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return f"{_dotted(expr.value)}.{expr.attr}"
    return ""
