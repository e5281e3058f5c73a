"""XPL002: `shap.TreeExplainer` built with no fallback when it rejects the model."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.audit.python.walker import Flag
from infermedic.model import Finding, Severity

_TREE_EXPLAINERS = frozenset(
    {
        "shap.TreeExplainer",
        "shap.explainers.Tree",
        "shap.explainers.TreeExplainer",
        "shap.explainers.GPUTree",
    }
)


class TreeExplainerWithoutFallback(PythonRule):
    """
    ## What it does
    Checks for `shap.TreeExplainer(...)` constructed outside a `try` block that has an
    `except` (a fallback to a model-agnostic explainer, or a clear degraded response).

    ## Why is this bad?
    `TreeExplainer` supports specific model types. Handed a `Pipeline`, a stacked or
    calibrated ensemble, or a model from a newer library version, it raises at start-up or
    on first use, and the explanation endpoint (or the whole service, if built at import)
    goes down with it.

    ## Example
    ```python
    import shap

    def build_explainer(model, background):
        return shap.TreeExplainer(model)
    ```

    Use instead:
    ```python
    import shap

    def build_explainer(model, background):
        try:
            return shap.TreeExplainer(model)
        except Exception:
            return shap.KernelExplainer(model.predict_proba, background)
    ```

    ## Known problems
    A `try` in a caller, around the function that builds the explainer, is not seen.
    """

    code = "XPL002"
    name = "tree-explainer-without-fallback"
    severity = Severity.LOW
    summary = "`shap.TreeExplainer` is built without a fallback for unsupported models."
    fix = (
        "Wrap it in `try`/`except` and fall back to `shap.KernelExplainer` (or "
        "`shap.Explainer`) over a background sample."
    )
    risk = "An unsupported model type takes the explanation endpoint, or the service, down."
    checklist = ("D-04",)
    node_types = (ast.Call,)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.Call)
        if scope.flags & Flag.GUARDED:
            return
        qualified = scope.qualified(node.func)
        if qualified in _TREE_EXPLAINERS:
            yield self.finding(
                scope.ctx.location(node),
                f"`{qualified}` has no fallback if it rejects the model",
                evidence=scope.evidence(node),
            )
