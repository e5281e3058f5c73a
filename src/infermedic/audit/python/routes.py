"""Finding a project's HTTP routes: framework decorators, class-based views, registration
calls (`add_api_route`, `add_url_rule`, aiohttp's router) and the routes `infermedic.instrument`
serves itself. Used by the project index (`index.py`) as it is built."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from infermedic.audit.project import Route
from infermedic.audit.python import class_routes
from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.walker import (
    BindingKind,
    ClassInfo,
    FunctionInfo,
    ModuleInfo,
)

if TYPE_CHECKING:
    from infermedic.audit.python.index import PythonIndex


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """A request handler: its function, HTTP methods, path and framework."""

    function: FunctionInfo
    methods: tuple[str, ...]
    path: str
    framework: str
    line: int

    @property
    def on_loop(self) -> bool:
        """Whether the handler body runs on the server's event loop."""
        if self.framework in kc.SYNC_ON_LOOP_FRAMEWORKS:
            return True
        return self.function.is_async and self.framework in kc.ASGI_FRAMEWORKS

    @property
    def loop_kind(self) -> str:
        """How to name the route when its body holds the loop."""
        if self.framework in kc.SYNC_ON_LOOP_FRAMEWORKS and not self.function.is_async:
            return f"{self.framework.capitalize()} handler (it runs on the IOLoop)"
        return "async route"

    @property
    def label(self) -> str:
        return f"{'|'.join(self.methods)} {self.path}"


class RouteFinder:
    """Walks every module of the index once and collects its routes."""

    def __init__(self, index: PythonIndex) -> None:
        self.index = index
        self.routes: list[RouteInfo] = []
        self._tornado_paths: dict[str, str] | None = None
        # Routes answered by middleware rather than a repo function (`instrument(app)`).
        self.provided_routes: list[Route] = []
        self._find_routes()
        self._find_provided_routes()

    def _find_routes(self) -> None:
        for module in self.index.modules.values():
            frameworks = _frameworks_imported(module)
            for func in module.all_functions:
                for decorator in func.node.decorator_list:
                    route = self._route_from_decorator(decorator, func, frameworks)
                    if route is not None:
                        self.routes.append(route)
                        break
            for cls in module.all_classes:
                self._class_routes(cls)
            for call, owner in module.registrations:
                self._route_from_registration(call, owner, module)

    def _route_from_decorator(
        self, decorator: ast.expr, func: FunctionInfo, frameworks: set[str]
    ) -> RouteInfo | None:
        module = func.module
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        qualified = module.ctx.qualified_name(target)
        if qualified in kc.BENTOML_APIS:  # `@bentoml.api` and `@bentoml.api(batchable=True)`
            return RouteInfo(
                function=func,
                methods=("POST",),
                path=f"/{func.name}",
                framework="bentoml",
                line=decorator.lineno,
            )
        if not isinstance(decorator, ast.Call):
            return None
        if qualified in kc.LITESTAR_HANDLERS:
            path_arg = decorator.args[0] if decorator.args else keyword_value(decorator, "path")
            path = path_arg.value if isinstance(path_arg, ast.Constant) else "/"
            return RouteInfo(
                function=func,
                methods=_methods(decorator, kc.LITESTAR_HANDLERS[qualified], "litestar"),
                path=str(path),
                framework="litestar",
                line=decorator.lineno,
            )
        if not isinstance(decorator.func, ast.Attribute):
            return None
        verb = decorator.func.attr
        if verb not in kc.ROUTE_DECORATOR_METHODS:
            return None
        path_arg = (
            decorator.args[0]
            if decorator.args
            else next((k.value for k in decorator.keywords if k.arg in {"path", "rule"}), None)
        )
        app = self.index.binding_of(decorator.func.value, func.parent, module)
        if app is not None and app.kind is BindingKind.APP:
            framework = app.origin
        elif (
            isinstance(path_arg, ast.Constant)
            and isinstance(path_arg.value, str)
            and (path_arg.value.startswith("/") or path_arg.value == "")
            and len(frameworks) == 1
        ):
            framework = next(iter(frameworks))
        else:
            return None
        path = path_arg.value if isinstance(path_arg, ast.Constant) else "?"
        methods = _methods(decorator, kc.ROUTE_DECORATOR_METHODS[verb], framework)
        return RouteInfo(
            function=func,
            methods=methods,
            path=str(path),
            framework=framework,
            line=decorator.lineno,
        )

    def _class_routes(self, cls: ClassInfo) -> None:
        decorators = {
            cls.module.ctx.qualified_name(d.func if isinstance(d, ast.Call) else d)
            for d in cls.node.decorator_list
        }
        call = cls.methods.get("__call__")
        if decorators & kc.RAY_SERVE_DEPLOYMENTS and call is not None:
            # A Ray Serve deployment answers HTTP through `__call__` (unless it is an ingress
            # of a FastAPI app, whose decorated methods are found as FastAPI routes).
            self.routes.append(
                RouteInfo(
                    function=call,
                    methods=("*",),
                    path=f"<{cls.name}>",
                    framework="ray",
                    line=call.node.lineno,
                )
            )
        bases = self.index.base_names(cls)
        if any(class_routes.grpc_servicer(base) for base in bases):
            self._framework_class_routes(cls, "grpc")
        elif bases & kc.TORNADO_HANDLER_BASES:
            self._framework_class_routes(cls, "tornado")
        elif bases & kc.RESTFUL_RESOURCE_BASES:
            for name, verb in kc.ROUTE_DECORATOR_METHODS.items():
                method = cls.methods.get(name)
                if method is not None and verb not in {"*", "WEBSOCKET"}:
                    self.routes.append(
                        RouteInfo(
                            function=method,
                            methods=(verb,),
                            path=f"<{cls.name}>",
                            framework="flask",
                            line=method.node.lineno,
                        )
                    )
        elif bases & kc.KSERVE_MODEL_BASES:
            for name, verb in kc.KSERVE_HANDLERS.items():
                method = cls.methods.get(name)
                if method is not None:
                    path = f"/v1/models/{{name}}:{name}"
                    self.routes.append(
                        RouteInfo(
                            function=method,
                            methods=(verb,),
                            path=path,
                            framework="kserve",
                            line=method.node.lineno,
                        )
                    )

    def _framework_class_routes(self, cls: ClassInfo, framework: str) -> None:
        """gRPC servicers and Tornado handlers (read in `class_routes.py`)."""
        if framework == "tornado" and self._tornado_paths is None:
            self._tornado_paths = class_routes.tornado_paths(self.index)
        found = (
            class_routes.grpc_methods(cls)
            if framework == "grpc"
            else class_routes.tornado_methods(cls, self._tornado_paths or {})
        )
        for method, verb, path in found:
            self.routes.append(
                RouteInfo(
                    function=method,
                    methods=(verb,),
                    path=path,
                    framework=framework,
                    line=method.node.lineno,
                )
            )

    def _route_from_registration(
        self, call: ast.Call, func: FunctionInfo | None, module: ModuleInfo
    ) -> None:
        name = call.func.attr if isinstance(call.func, ast.Attribute) else "Route"
        path = call.args[0] if call.args else None
        if name == "add_resource":
            return  # class-based views are found from their base class
        if self._aiohttp_route(call, func, module):
            return
        handler_expr: ast.expr | None
        if name == "add_url_rule":
            handler_expr = next(
                (k.value for k in call.keywords if k.arg == "view_func"),
                call.args[2] if len(call.args) > 2 else None,
            )
        else:
            handler_expr = next(
                (k.value for k in call.keywords if k.arg == "endpoint"),
                call.args[1] if len(call.args) > 1 else None,
            )
        if handler_expr is None:
            return
        handler = self.index.callee(handler_expr, func, module)
        if handler is None:
            return
        app = (
            self.index.binding_of(call.func.value, func, module)
            if isinstance(call.func, ast.Attribute)
            else None
        )
        literal_path = isinstance(path, ast.Constant) and isinstance(path.value, str)
        if app is not None and app.kind is BindingKind.APP:
            framework = app.origin
        elif not literal_path:
            return  # a framework registering its own routes (`self.add_route(url, ...)`)
        else:
            framework = "flask" if name == "add_url_rule" else "starlette"
            if name == "add_api_route":
                framework = "fastapi"
        default = "GET" if framework in {"flask", "starlette"} else "*"
        self.routes.append(
            RouteInfo(
                function=handler,
                methods=_methods(call, default, framework),
                path=str(path.value) if isinstance(path, ast.Constant) else "?",
                framework=framework,
                line=call.lineno,
            )
        )

    def _aiohttp_route(self, call: ast.Call, func: FunctionInfo | None, module: ModuleInfo) -> bool:
        """`app.router.add_post("/p", handler)`, `app.router.add_route("POST", "/p", h)` and
        `web.post("/p", handler)`; True when `call` is one of them (found or not)."""
        qualified = module.ctx.qualified_name(call.func)
        attr = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        if qualified in kc.AIOHTTP_ROUTE_FUNCTIONS:
            verb = kc.AIOHTTP_ROUTE_FUNCTIONS[qualified]
        elif attr in kc.AIOHTTP_ADD_METHODS or (attr == "add_route" and len(call.args) == 3):
            owner = call.func.value if isinstance(call.func, ast.Attribute) else None
            if not (isinstance(owner, ast.Attribute) and owner.attr == "router"):
                return False
            app = self.index.binding_of(owner.value, func, module)
            if app is None or app.origin != "aiohttp":
                return False
            verb = kc.AIOHTTP_ADD_METHODS.get(attr, "")
        else:
            return False
        args = list(call.args)
        if not verb:  # add_route(method, path, handler)
            method = args.pop(0)
            verb = str(method.value).upper() if isinstance(method, ast.Constant) else "*"
        if len(args) < 2:
            return True
        handler = self.index.callee(args[1], func, module)
        if handler is None:
            return True
        path = args[0]
        self.routes.append(
            RouteInfo(
                function=handler,
                methods=(verb,),
                path=str(path.value) if isinstance(path, ast.Constant) else "?",
                framework="aiohttp",
                line=call.lineno,
            )
        )
        return True

    def _find_provided_routes(self) -> None:
        for module in self.index.modules.values():
            imports = module.ctx.imports.values()
            if not any(q.startswith(kc.INSTRUMENT_MODULE) for q in imports):
                continue  # the walk below is only worth it where instrumentation is imported
            for node in ast.walk(module.ctx.tree):
                if isinstance(node, ast.Call):
                    self.provided_routes += _instrument_routes(node, module)


def project_routes(routes: list[RouteInfo], provided: list[Route]) -> tuple[Route, ...]:
    """The routes in the contract's form, one per method."""
    return tuple(
        Route(
            method=method,
            path=route.path,
            handler=route.function.qualname,
            is_async=route.function.is_async,
            file=route.function.module.ctx.relpath,
            line=route.function.node.lineno,
            framework=route.framework,
        )
        for route in routes
        for method in route.methods
    ) + tuple(provided)


def _instrument_routes(call: ast.Call, module: ModuleInfo) -> list[Route]:
    """The routes `infermedic.instrument` answers for the app wrapped by `call`:
    `instrument(app, ...)`, `InstrumentMiddleware(app, ...)`, or a call handing it the
    middleware class (`app.add_middleware(InstrumentMiddleware, ...)`, `Middleware(...)`)."""
    ctx = module.ctx
    qualified = ctx.qualified_name(call.func)
    wraps = qualified in kc.INSTRUMENT_CALLS
    if not wraps and not (call.args and ctx.qualified_name(call.args[0]) in kc.INSTRUMENT_CALLS):
        return []
    options = {k.arg: k.value for k in call.keywords if k.arg is not None}
    paths: list[tuple[str, str]] = []
    health = options.get("health_paths")
    if health is None:
        paths += [("/livez", "_livez"), ("/readyz", "_readyz")]
    elif isinstance(health, ast.Tuple | ast.List) and len(health.elts) == 2:
        for element, handler in zip(health.elts, ("_livez", "_readyz"), strict=True):
            if isinstance(element, ast.Constant) and isinstance(element.value, str):
                paths.append((element.value, handler))
    legacy = options.get("legacy_health")
    if isinstance(legacy, ast.Constant) and legacy.value is True:
        paths += [("/health", "_livez"), ("/ready", "_readyz")]
    metrics = options.get("metrics_path", ast.Constant(value="/metrics"))
    if isinstance(metrics, ast.Constant) and isinstance(metrics.value, str):
        paths.append((metrics.value, "_metrics"))
    # A non-literal path (a variable) is not guessed: an unknown route is left out.
    return [
        Route(
            method="GET",
            path=path,
            handler=f"{kc.INSTRUMENT_MODULE}.InstrumentMiddleware.{handler}",
            is_async=True,
            file=ctx.relpath,
            line=call.lineno,
        )
        for path, handler in paths
    ]


def keyword_value(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _frameworks_imported(module: ModuleInfo) -> set[str]:
    roots = {q.split(".", 1)[0] for q in module.ctx.imports.values()}
    known: tuple[str, ...] = ("fastapi", "starlette", "flask", "quart", "sanic", "aiohttp")
    found = {name for name in known if name in roots}
    if "fastapi" in found:
        found.discard("starlette")  # FastAPI apps import starlette pieces too
    return found


def _methods(call: ast.Call, default: str, framework: str) -> tuple[str, ...]:
    listed = next((k.value for k in call.keywords if k.arg == "methods"), None)
    if isinstance(listed, ast.List | ast.Tuple | ast.Set):
        names = [
            e.value.upper()
            for e in listed.elts
            if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
        if names:
            return tuple(names)
    if default == "*" and framework == "flask":
        return ("GET",)
    return (default,)
