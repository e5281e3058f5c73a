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
from infermedic.audit.python import class_routes
from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import dotted
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
        self.routes: list[RouteInfo] = []
        self._tornado_paths: dict[str, str] | None = None
        # Routes answered by middleware rather than a repo function (`instrument(app)`).
        self.provided_routes: list[Route] = []
        self._find_routes()
        self._find_provided_routes()
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

    # -- routes ----------------------------------------------------------------------------
    def _find_routes(self) -> None:
        for module in self.modules.values():
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
        app = self.binding_of(decorator.func.value, func.parent, module)
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
        bases = self.base_names(cls)
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
            self._tornado_paths = class_routes.tornado_paths(self)
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
        handler = self.callee(handler_expr, func, module)
        if handler is None:
            return
        app = (
            self.binding_of(call.func.value, func, module)
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
            app = self.binding_of(owner.value, func, module)
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
        handler = self.callee(args[1], func, module)
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
        for module in self.modules.values():
            imports = module.ctx.imports.values()
            if not any(q.startswith(kc.INSTRUMENT_MODULE) for q in imports):
                continue  # the walk below is only worth it where instrumentation is imported
            for node in ast.walk(module.ctx.tree):
                if isinstance(node, ast.Call):
                    self.provided_routes += _instrument_routes(node, module)

    def project_routes(self) -> tuple[Route, ...]:
        """The routes in the contract's form, one per method."""
        return tuple(
            Route(
                method=method,
                path=route.path,
                handler=route.function.qualname,
                is_async=route.function.is_async,
                file=route.function.module.ctx.relpath,
                line=route.function.node.lineno,
            )
            for route in self.routes
            for method in route.methods
        ) + tuple(self.provided_routes)

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


def _named(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Name | ast.Attribute)


def _owner_class(func: FunctionInfo) -> ClassInfo | None:
    scope: FunctionInfo | None = func
    while scope is not None:
        if scope.cls is not None:
            return scope.cls
        scope = scope.parent
    return None


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
