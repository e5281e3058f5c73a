"""Services: the routes of one app, so that two services audited together are each judged
on their own routes and neither hides the other's gaps.

A service is a folder holding modules that make an app (`app = FastAPI()`), with the repo
modules those modules import (transitively) and the modules that import them. Each route
belongs to the service whose app reaches its module, the deepest such folder when several
do; a route no app reaches goes to the deepest app folder above it, else to the root.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import deque
from dataclasses import dataclass

from infermedic.audit.project import Route
from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.routes import RouteInfo
from infermedic.audit.python.walker import BindingKind, ModuleInfo

# Constructors of whole applications (not their routers or blueprints).
_APPS = frozenset(kc.APP_CONSTRUCTORS) - {
    "fastapi.APIRouter",
    "starlette.routing.Router",
    "flask.Blueprint",
    "quart.Blueprint",
    "aiohttp.web.RouteTableDef",
    "aiohttp.web.UrlDispatcher",
    "litestar.Router",
} | {"litestar.Litestar"}
# Every import target a call to one of `_APPS` can be named through (`fastapi`,
# `fastapi.FastAPI`): a module importing none of them cannot make an app.
_APP_PREFIXES = frozenset(
    ".".join(parts[:cut])
    for parts in (a.split(".") for a in _APPS)
    for cut in range(1, len(parts) + 1)
)
_MAX_MODULES = 5_000  # a reach walk over more modules than this is cut (a vendored tree)


@dataclass(frozen=True, kw_only=True)
class Service:
    """One app and what belongs to it. `key` is the folder of its app module(s)."""

    key: str
    app_modules: tuple[ModuleInfo, ...]
    modules: frozenset[str]  # names of the modules the app reaches, its own included
    routes: tuple[RouteInfo, ...]

    def holds(self, module: ModuleInfo) -> bool:
        return module.name in self.modules


def folder(relpath: str) -> str:
    return relpath.rsplit("/", 1)[0] if "/" in relpath else ""


def inside(path_folder: str, parent: str) -> bool:
    return parent == "" or path_folder == parent or path_folder.startswith(parent + "/")


def app_lines(module: ModuleInfo) -> list[int]:
    return sorted(b.line for b in module.bindings.values() if b.kind is BindingKind.APP)


def services(index: PythonIndex, routes: list[RouteInfo] | None = None) -> list[Service]:
    """The services of the index, each with its routes (all routes when `routes` is None);
    a service without routes is kept (it may serve through middleware or a framework)."""
    chosen = index.routes if routes is None else routes
    apps: dict[str, list[ModuleInfo]] = {}
    makers = [m for m in index.modules.values() if _makes_app(m)]
    # Routers and blueprints are parts of an app; only when no module makes an app (a
    # library of routers) do they stand for the services.
    for module in makers or [m for m in index.modules.values() if app_lines(m)]:
        apps.setdefault(folder(module.ctx.relpath), []).append(module)
    reach = {key: _reach(index, mods) for key, mods in apps.items()}
    grouped: dict[str, list[RouteInfo]] = {key: [] for key in apps}
    for route in chosen:
        grouped.setdefault(_owner(route.function.module, reach), []).append(route)
    return [
        Service(
            key=key,
            app_modules=tuple(apps.get(key, ())),
            modules=reach.get(key, frozenset()),
            routes=tuple(found),
        )
        for key, found in sorted(grouped.items())
    ]


def _makes_app(module: ModuleInfo) -> bool:
    """Whether the module builds an application (at module level or in a factory)."""
    # A call's qualified name is an import target plus attributes (builtins aside, and no
    # app is a builtin): without an import that can lead to an app, skip the whole walk.
    if _APP_PREFIXES.isdisjoint(module.ctx.imports.values()):
        return False
    for node in ast.walk(module.ctx.tree):
        if isinstance(node, ast.Call) and module.ctx.qualified_name(node.func) in _APPS:
            return True
    return False


def service_of(module: ModuleInfo, found: list[Service]) -> Service | None:
    """The service a module belongs to (the one whose routes' owner rule would pick)."""
    key = _owner(module, {s.key: s.modules for s in found})
    return next((s for s in found if s.key == key), None)


def _owner(module: ModuleInfo, reach: dict[str, frozenset[str]]) -> str:
    here = folder(module.ctx.relpath)
    reaching = [key for key, names in reach.items() if module.name in names]
    if reaching:
        above = [key for key in reaching if inside(here, key)]
        # a shared module reached by several apps stays with the one whose folder holds it;
        # else the app folder sharing the longest path with it
        return max(above or reaching, key=lambda k: (len(_common(k, here)), len(k), k))
    above = [key for key in reach if inside(here, key)]
    return max(above, key=len) if above else ""


def _common(a: str, b: str) -> list[str]:
    common = []
    for x, y in zip(a.split("/"), b.split("/"), strict=False):
        if x != y:
            break
        common.append(x)
    return common


def _reach(index: PythonIndex, apps: list[ModuleInfo]) -> frozenset[str]:
    """The repo modules the app modules import, transitively, and the modules that import
    an app module directly (route files decorating `@app.get` on an imported app)."""
    names = {m.name for m in apps}
    seen: set[str] = set()
    queue = deque(apps)
    while queue and len(seen) < _MAX_MODULES:
        module = queue.popleft()
        if module.name in seen:
            continue
        seen.add(module.name)
        for qualified in module.ctx.imports.values():
            target = _module_of(index, qualified)
            if target is not None and target.name not in seen:
                queue.append(target)
    for module in index.modules.values():
        if module.name in seen:
            continue
        if any(
            (target := _module_of(index, q)) is not None and target.name in names
            for q in module.ctx.imports.values()
        ):
            seen.add(module.name)
    return frozenset(seen)


def _module_of(index: PythonIndex, qualified: str) -> ModuleInfo | None:
    """The repo module an imported name lives in (`serving.model.load` → `serving.model`)."""
    parts = qualified.split(".")
    for cut in range(len(parts), 0, -1):
        found = index.module(".".join(parts[:cut]))
        if found is not None:
            return found
    return None


def project_routes(index: PythonIndex) -> tuple[Route, ...]:
    """The index's routes in the contract's form, each naming its service."""
    found = services(index)
    by_module: dict[str, str] = {}
    for service in found:
        for route in service.routes:
            by_module[route.function.module.ctx.relpath] = service.key
    keyed = []
    for plain in index.project_routes():
        key = by_module.get(plain.file)
        if key is None:  # a route answered by middleware (`instrument(app)`)
            module = next((m for m in index.modules.values() if m.ctx.relpath == plain.file), None)
            owner = service_of(module, found) if module is not None else None
            key = owner.key if owner is not None else ""
        keyed.append(dataclasses.replace(plain, service=key))
    return tuple(keyed)
