"""SVC002: a model artifact loaded while serving a request."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import unparse
from infermedic.audit.python.route_kinds import is_model_loading_route
from infermedic.audit.python.rule import PythonRule, Scope, first
from infermedic.model import Finding, Severity


class ModelLoadInRequestPath(PythonRule):
    """
    ## What it does
    Checks for model loads (`joblib.load`, `pickle.load`, `torch.load`,
    `mlflow.*.load_model`, `onnxruntime.InferenceSession`, keras `load_model`,
    `from_pretrained`, `transformers.pipeline`…) executed while a route handles a request,
    in the handler or in any repo function it calls (including FastAPI `Depends`
    dependencies and service classes constructed per request).

    ## Why is this bad?
    Loading a model reads and deserialises the artifact and often warms caches: tens of
    milliseconds to tens of seconds, on every request. Memory churns with each copy, and the
    first requests after a deploy time out. The model should be loaded once, at start-up.

    ## Example
    ```python
    import joblib
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/predict")
    def predict(features: list[float]):
        model = joblib.load("model.joblib")
        return {"label": int(model.predict([features])[0])}
    ```

    Use instead:
    ```python
    from contextlib import asynccontextmanager

    import joblib
    from fastapi import FastAPI, Request

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.model = joblib.load("model.joblib")
        yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/predict")
    def predict(features: list[float], request: Request):
        return {"label": int(request.app.state.model.predict([features])[0])}
    ```

    ## Known problems
    A load behind a lazy-initialisation guard (`if model is None:`) or inside an
    `@lru_cache` function runs once and is not reported; the first request still pays for
    it (a cold start, which `infermedic probe` measures). Routes whose path or handler
    name says they train or (re)load a model (`/train`, `/retrain`, `/models/reload`) and
    not that they predict load a model by design and are not reported.

    ## References
    - bandit B301/B614 flag `pickle`/`torch.load` anywhere, for safety; this rule is about
      where the load runs.
    """

    code = "SVC002"
    name = "model-load-in-request-path"
    severity = Severity.HIGH
    summary = "A model is loaded on every request instead of once at start-up."
    fix = "Load the model once at start-up (lifespan handler or module level) and reuse it."
    risk = "Every request pays the load time and memory; first requests after a deploy time out."
    checklist = ()
    node_types = (ast.Call,)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.Call)
        # A training or model-reload route loads a model by design.
        reaches = [r for r in scope.on_request_path() if not is_model_loading_route(r.route)]
        if not reaches:
            return
        qualified = scope.qualified(node.func)
        if qualified is None or qualified == "pickle.loads":
            if not (
                isinstance(node.func, ast.Attribute)
                and node.func.attr in {"from_pretrained", "load_model"}
            ):
                return
            qualified = unparse(node.func)
        elif not kc.is_model_loader(qualified):
            return
        reach = first(reaches)
        via = "" if len(reach.chain) == 1 else f" (through `{' → '.join(reach.chain)}`)"
        yield self.finding(
            scope.ctx.location(node),
            f"`{qualified}` loads a model on every request to `{reach.route.label}`{via}",
            evidence=scope.evidence(node, reach, qualified),
            fingerprint_key=f"{qualified}|{reach.route.label}",
        )
