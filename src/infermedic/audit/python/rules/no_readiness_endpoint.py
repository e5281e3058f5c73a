"""SVC010: a model service with no readiness endpoint."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from infermedic.audit.python.index import PythonIndex, RouteInfo
from infermedic.audit.python.rule import PythonRule
from infermedic.audit.python.walker import BindingKind
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity
from infermedic.settings import Settings

_READY = re.compile(r"read(y|iness)|startup", re.IGNORECASE)
_HEALTH = re.compile(r"health|live|ping|status", re.IGNORECASE)
_SELF_SERVING = frozenset({"kserve", "bentoml"})  # these servers provide readiness themselves


class NoReadinessEndpoint(PythonRule):
    """
    ## What it does
    Checks for HTTP model services (FastAPI, Starlette, Flask, Quart, Sanic routes in a repo
    that loads a model) that define no readiness endpoint: no route whose path says
    `ready`, `readiness` or `startup`, and no `infermedic.instrument` health pair.

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
        routes = [r for r in index.routes if r.framework not in _SELF_SERVING]
        if not routes or any(_READY.search(r.path) for r in routes):
            return
        if not _loads_model(index) or _readiness_elsewhere(index):
            return
        health = next((r for r in routes if _HEALTH.search(r.path)), None)
        anchor: RouteInfo = health or min(routes, key=lambda r: (r.function.module.name, r.line))
        ctx = anchor.function.module.ctx
        listed = ", ".join(sorted({r.label for r in routes}))
        message = (
            f"`{anchor.label}` is the only probe endpoint: nothing says when the model is loaded"
            if health
            else f"the service defines no health or readiness endpoint (routes: {listed})"
        )
        yield self.finding(
            Location(path=ctx.relpath, line=anchor.line),
            message,
            evidence=[
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"{ctx.relpath}:{anchor.line}",
                    observed=ctx.line_text(anchor.line),
                ),
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action="routes found",
                    observed=listed,
                    values={"routes": sorted({r.label for r in routes})},
                ),
            ],
            fingerprint_key=listed,
        )


def _loads_model(index: PythonIndex) -> bool:
    for module in index.modules.values():
        bindings = [*module.bindings.values(), *module.state_attrs.values()]
        bindings += [b for c in module.all_classes for b in c.attrs.values()]
        bindings += [b for f in module.all_functions for b in f.locals.values()]
        if any(b.kind is BindingKind.MODEL for b in bindings):
            return True
    return False


def _readiness_elsewhere(index: PythonIndex) -> bool:
    for module in index.modules.values():
        if any(q.startswith("infermedic.instrument") for q in module.ctx.imports.values()):
            return True
        for node in ast.walk(module.ctx.tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("/")
                and _READY.search(node.value)
            ):
                return True
    return False
