"""SVC010: a model service with no readiness endpoint."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.python.context import dotted
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.route_kinds import is_health_path, is_readiness_path
from infermedic.audit.python.routes import RouteInfo
from infermedic.audit.python.rule import PythonRule
from infermedic.audit.python.services import Service, app_lines, folder, inside, services
from infermedic.audit.python.walker import BindingKind, FunctionInfo, ModuleInfo
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity
from infermedic.settings import Settings

_SERVERLESS = frozenset({"mangum", "aws_lambda_powertools", "chalice", "zappa"})
_SELF_SERVING = frozenset({"kserve", "bentoml", "ray"})  # these servers answer readiness
# gRPC services report health through the gRPC health protocol, not an HTTP route.
_NOT_HTTP = frozenset({"grpc"})


class NoReadinessEndpoint(PythonRule):
    """
    ## What it does
    Checks for HTTP model services (FastAPI, Starlette, Flask, Quart, Sanic routes that reach
    a model) that define no readiness endpoint: no route whose path has the word `ready`,
    `readyz`, `readiness` or `startup`, no health route (`/health`, `/healthz`, `/livez`,
    `/ping`, `/heartbeat`, `/status`) whose handler looks at the model or can answer 503,
    and no `infermedic.instrument` health pair. Each service (an app, the modules it
    imports and the modules that import it, so its routers and blueprints) is judged on its
    own routes; services wrapped for AWS Lambda (Mangum) have no probes and are skipped.

    ## Why is this bad?
    Without a readiness endpoint, the orchestrator can only ask "is the process up?".
    Traffic arrives while the model is still loading or warming up, so the first requests
    after every deploy or scale-up fail or time out, and a pod whose model failed to load
    keeps receiving traffic. `/health` should say "alive"; `/ready` should say "model
    loaded and warmed up".

    ## Example
    ```python
    import joblib
    from fastapi import FastAPI

    app = FastAPI()
    model = joblib.load("model.joblib")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.post("/predict")
    def predict(features: list[float]):
        return {"label": int(model.predict([features])[0])}
    ```

    Use instead:
    ```python
    import joblib
    from fastapi import FastAPI, Response

    app = FastAPI()
    model = joblib.load("model.joblib")

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/ready")
    def ready(response: Response):
        if model is None:
            response.status_code = 503
        return {"ready": model is not None}

    @app.post("/predict")
    def predict(features: list[float]):
        return {"label": int(model.predict([features])[0])}
    ```

    ## Known problems
    Routes added by a library the rule does not know (other than `infermedic.instrument`)
    are not seen; a path string like `"/readyz"` anywhere in the code is taken as a
    readiness route. Whether the readiness handler really checks the model is not verified.
    A model the index cannot recognise (a custom loader it does not know) makes the service
    look model-free, and the rule stays silent.
    """

    code = "SVC010"
    name = "no-readiness-endpoint"
    severity = Severity.MEDIUM
    summary = "The service has no readiness endpoint that waits for the model to load."
    fix = (
        "Add `GET /ready` that returns 503 until the model is loaded and warmed up, and "
        "point the readiness probe at it (keep `/health` for liveness)."
    )
    risk = "Traffic reaches pods whose model is not loaded: errors after every deploy."
    checklist = ("D-23",)
    node_types = ()

    def check_project(self, index: PythonIndex, settings: Settings) -> Iterator[Finding]:
        routes = [r for r in index.routes if r.framework not in _SELF_SERVING | _NOT_HTTP]
        if not routes:
            return
        for service in services(index, routes):
            group = list(service.routes)
            if not group:
                continue
            # Each service on its own: one wrapped for Lambda or instrumented by
            # infermedic must not hide another's missing readiness route.
            modules = _modules_of(index, service)
            if _readiness_elsewhere(modules) or _serverless(modules):
                continue
            if any(is_readiness_path(r.path) for r in group) or _readiness_string(modules):
                continue
            if any(is_health_path(r.path) and _reports_model(index, r) for r in group):
                continue  # `/health` (or `/ping`) that answers 503 until the model is up
            if not _serves_model(index, group):
                continue  # a report viewer, a data API: nothing to wait for
            yield self._finding(index, group, service)

    def _finding(self, index: PythonIndex, group: list[RouteInfo], service: Service) -> Finding:
        health = next((r for r in group if is_health_path(r.path)), None)
        listed = ", ".join(sorted({r.label for r in group}))
        app = _app_binding(index, group, service)
        if health is not None:
            relpath = health.function.module.ctx.relpath
            line = health.line
            text = health.function.module.ctx.line_text(line)
            message = (
                f"`{health.label}` is the only probe endpoint: nothing says when the model "
                "is loaded"
            )
        else:
            # Anchored where the service is made (the app), not on some unrelated route.
            if app is not None:
                module, line = app
            else:
                first = min(group, key=lambda r: (r.function.module.name, r.line))
                module, line = first.function.module, first.line
            relpath, text = module.ctx.relpath, module.ctx.line_text(line)
            message = f"the service defines no health or readiness endpoint (routes: {listed})"
        return self.finding(
            Location(path=relpath, line=line),
            message,
            evidence=[
                Evidence(kind=EvidenceKind.SOURCE, action=f"{relpath}:{line}", observed=text),
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action="routes found",
                    observed=listed,
                    values={"routes": sorted({r.label for r in group})},
                ),
            ],
            fingerprint_key=listed,
        )


def _modules_of(index: PythonIndex, service: Service) -> list[ModuleInfo]:
    """The service's modules: those its app reaches, and those holding its routes."""
    route_modules = {id(r.function.module) for r in service.routes}
    return [m for m in index.modules.values() if service.holds(m) or id(m) in route_modules]


def _app_binding(
    index: PythonIndex, group: list[RouteInfo], service: Service
) -> tuple[ModuleInfo, int] | None:
    """The module-level `app = FastAPI()` of the service (not a router it includes)."""
    route_modules = {id(r.function.module) for r in group}
    folders = {folder(r.function.module.ctx.relpath) for r in group}
    candidates = []
    for module in (*service.app_modules, *index.modules.values()):
        lines = app_lines(module)
        if not lines:
            continue
        makes_app = any(m is module for m in service.app_modules)
        mine = makes_app or id(module) in route_modules
        if mine or any(inside(f, folder(module.ctx.relpath)) for f in folders):
            # the module that makes the app first, then one holding routes (a router)
            rank = (not makes_app, id(module) not in route_modules, module.name, lines[0])
            candidates.append((*rank, module))
    if not candidates:
        return None
    best = min(candidates, key=lambda c: c[:4])
    return best[4], best[3]


def _serves_model(index: PythonIndex, group: list[RouteInfo]) -> bool:
    """Whether a route of the group reaches a model (through calls, dependencies, methods
    and `app.state`), or a module holding the group's routes loads one."""
    for route in group:
        module = route.function.module
        bindings = [*module.bindings.values(), *module.state_attrs.values()]
        if any(b.kind is BindingKind.MODEL for b in bindings):
            return True
    ids = {id(r) for r in group}
    for module in index.modules.values():
        for func in module.all_functions:
            if not any(id(reach.route) in ids for reach in index.reaches(func)):
                continue
            if _uses_model(index, func):
                return True
    return False


def _uses_model(index: PythonIndex, func: FunctionInfo) -> bool:
    if any(b.kind is BindingKind.MODEL for b in func.locals.values()):
        return True
    for node in ast.walk(func.node):
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            found = index.binding_of(node, func, func.module)
            if found is not None and found.kind is BindingKind.MODEL:
                return True
    return False


def _reports_model(index: PythonIndex, route: RouteInfo) -> bool:
    """A health handler that looks at the model or can answer 503 serves as readiness."""
    func = route.function
    if _uses_model(index, func):
        return True
    for node in ast.walk(func.node):
        if isinstance(node, ast.Constant) and node.value in {500, 503}:
            return True
        if isinstance(node, ast.Attribute | ast.Name) and "503" in dotted(node):
            return True
        if isinstance(node, ast.Attribute | ast.Name) and "UNAVAILABLE" in dotted(node):
            return True
    return False


def _serverless(modules: list[ModuleInfo]) -> bool:
    """An app wrapped for AWS Lambda (`Mangum(app)`): there is no orchestrator to probe it."""
    return any(
        any(q.split(".", 1)[0] in _SERVERLESS for q in module.ctx.imports.values())
        for module in modules
    )


def _readiness_elsewhere(modules: list[ModuleInfo]) -> bool:
    return any(
        any(q.startswith("infermedic.instrument") for q in module.ctx.imports.values())
        for module in modules
    )


def _readiness_string(modules: list[ModuleInfo]) -> bool:
    """A path string like `"/readyz"` in the service's modules: a route registered in a way
    the index does not read."""
    for module in modules:
        for node in ast.walk(module.ctx.tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("/")
                and len(node.value) < 80
                and is_readiness_path(node.value)
            ):
                return True
    return False
