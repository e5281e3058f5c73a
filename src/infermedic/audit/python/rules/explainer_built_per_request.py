"""XPL001: a SHAP/LIME explainer constructed while serving a request."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.rule import PythonRule, Scope, first
from infermedic.model import Finding, Severity


class ExplainerBuiltPerRequest(PythonRule):
    """
    ## What it does
    Checks for explainers (`shap.KernelExplainer`, `shap.Explainer`, `shap.TreeExplainer`,
    `lime.lime_tabular.LimeTabularExplainer`…) constructed while a route serves a request,
    in the handler or in a repo function it calls. Classes of the audited repository named
    `*Explainer`, or derived from a library explainer, count too: a hand-rolled explainer
    that summarises its background data when built costs the same.

    ## Why is this bad?
    Building an explainer summarises the background data and, for `KernelExplainer`,
    prepares a sampling plan: hundreds of milliseconds to seconds, plus memory, on every
    request, before a single explanation is computed. An `/explain` endpoint that builds
    its explainer per call is usually the slowest route of the service by far.

    ## Example
    ```python
    import joblib
    import shap
    from fastapi import FastAPI

    app = FastAPI()
    model = joblib.load("model.joblib")
    background = joblib.load("background.joblib")

    @app.post("/explain")
    def explain(features: list[float]):
        explainer = shap.KernelExplainer(model.predict_proba, background)
        return {"shap": explainer.shap_values([features])[1].tolist()}
    ```

    Use instead:
    ```python
    import joblib
    import shap
    from fastapi import FastAPI

    app = FastAPI()
    model = joblib.load("model.joblib")
    background = joblib.load("background.joblib")
    explainer = shap.KernelExplainer(model.predict_proba, background)

    @app.post("/explain")
    def explain(features: list[float]):
        return {"shap": explainer.shap_values([features])[1].tolist()}
    ```

    ## Known problems
    An explainer built behind a lazy-initialisation guard (`if explainer is None:`) is
    built once and is not reported.
    """

    code = "XPL001"
    name = "explainer-built-per-request"
    severity = Severity.HIGH
    summary = "An explainer is constructed on every request."
    fix = "Build the explainer once at start-up, next to the model, and reuse it."
    risk = "Every explanation pays the explainer's set-up: seconds of latency and memory churn."
    checklist = ("D-24",)
    node_types = (ast.Call,)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.Call)
        reaches = scope.on_request_path()
        if not reaches:
            return
        qualified = scope.qualified(node.func)
        built = scope.index.class_called(node.func, scope.function, scope.module)
        if built is not None:
            # A repo class: an `*Explainer` by name, or a subclass of a library explainer.
            qualified = built.qualname
            if not (
                kc.is_explainer(qualified, repo_class=True)
                or any(kc.is_explainer(base) for base in scope.index.base_names(built))
            ):
                return
        elif qualified is None or not kc.is_explainer(qualified):
            return
        reach = first(reaches)
        via = "" if len(reach.chain) == 1 else f" (through `{' → '.join(reach.chain)}`)"
        yield self.finding(
            scope.ctx.location(node),
            f"`{qualified}` is built on every request to `{reach.route.label}`{via}",
            evidence=scope.evidence(node, reach, qualified),
            fingerprint_key=f"{qualified}|{reach.route.label}",
        )
