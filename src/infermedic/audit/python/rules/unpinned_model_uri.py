"""SVC007: a model registry URI that names no version."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.model import Finding, Severity

# `models:/churn`, `models:/churn/latest`; `{}` stands for an f-string field.
_UNPINNED = re.compile(r"^models:/([^/@]+?)(?:/(latest))?/?$", re.IGNORECASE)


class UnpinnedModelUri(PythonRule):
    """
    ## What it does
    Checks for MLflow model registry URIs that do not pin what is served:
    `models:/churn/latest` or `models:/churn` with no version or alias, in calls and
    assignments (f-strings included).

    ## Why is this bad?
    "Latest" moves whenever anyone registers a version. Pods that start at different
    times serve different models behind one Service, a rollback redeploys whatever is
    newest, and a prediction cannot be traced to the model that made it.

    ## Example
    ```python
    import mlflow

    model = mlflow.pyfunc.load_model("models:/churn/latest")
    ```

    Use instead:
    ```python
    import os

    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/churn/{os.environ['MODEL_VERSION']}")
    ```

    ## Known problems
    Registry stages (`models:/churn/Production`) and aliases (`models:/churn@champion`)
    are moving references too, but they are deliberate promotion mechanisms and are not
    reported. URIs read from configuration files or environment variables are not seen.
    """

    code = "SVC007"
    name = "unpinned-model-uri"
    severity = Severity.MEDIUM
    summary = "A model registry URI names no version, so what is served can change silently."
    fix = (
        "Pin the version (`models:/churn/3`) or a deliberately managed alias "
        "(`models:/churn@champion`), passed in by deployment configuration."
    )
    risk = "Pods serve different models; rollbacks and incident analysis lose the version."
    checklist = ()
    node_types = (ast.Call, ast.Assign, ast.AnnAssign)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        if isinstance(node, ast.Call):
            values: list[ast.expr] = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            values = [node.value] if node.value is not None else []
        else:
            return
        for value in values:
            text = _template(value)
            if text is None:
                continue
            match = _UNPINNED.match(text)
            if match is None or ("{}" in match.group(1) and not match.group(2)):
                continue  # `f"models:/{uri}"` may carry its version inside the field
            kind = "`latest`" if match.group(2) else "no version"
            yield self.finding(
                scope.ctx.location(value),
                f"model URI `{text}` has {kind}: the served model can change without a deploy",
                evidence=scope.evidence(value),
            )


def _template(value: ast.expr) -> str | None:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value if value.value.startswith("models:/") else None
    if isinstance(value, ast.JoinedStr):
        parts = [str(v.value) if isinstance(v, ast.Constant) else "{}" for v in value.values]
        text = "".join(parts)
        return text if text.startswith("models:/") else None
    return None
