"""MON003: a model is promoted to serving with no quality gate."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.audit.python.walker import Flag, FunctionInfo
from infermedic.model import Finding, Severity

_PROMOTIONS = frozenset({"transition_model_version_stage", "set_registered_model_alias"})
_GATE_NAME = re.compile(
    r"quality_gate|should_promote|can_promote|passes_gate|passes_threshold|gate_|_gate\b|"
    r"is_better|beats_champion|compare_to_champion|champion_challenger|validate_model|"
    r"check_metrics|meets_threshold",
    re.IGNORECASE,
)


class NoPromotionQualityGate(PythonRule):
    """
    ## What it does
    Checks code that promotes a model version to serving (MLflow
    `transition_model_version_stage`, `set_registered_model_alias`) for a quality gate: the
    promotion must sit under a condition or in a function that can refuse (`raise`,
    `assert`, an early `return` under an `if`), or the repository must define a gate
    function (`quality_gate`, `should_promote`, `compare_to_champion`…). Repositories
    without promotion code are not judged.

    ## Why is this bad?
    Unconditional promotion ships whatever the last training run produced: a model trained
    on a broken extract, with a leaked feature or a silent preprocessing change goes to
    production automatically, and the first signal is a business metric days later.

    ## Example
    ```python
    from mlflow import MlflowClient

    def promote(name, version):
        MlflowClient().set_registered_model_alias(name, "champion", version)
    ```

    Use instead:
    ```python
    from mlflow import MlflowClient

    def promote(name, version, candidate_auc, champion_auc):
        if candidate_auc < champion_auc + 0.002:
            return False
        MlflowClient().set_registered_model_alias(name, "champion", version)
        return True
    ```

    ## Known problems
    Any enclosing condition counts as a gate, whatever it tests; a gate that lives in the
    CI pipeline instead of Python code is not seen.
    """

    code = "MON003"
    name = "no-promotion-quality-gate"
    severity = Severity.MEDIUM
    summary = "A model version is promoted to serving without a quality gate."
    fix = (
        "Promote only when the candidate beats the current champion on a held-out set "
        "(e.g. `if should_promote(candidate, champion): set_registered_model_alias(...)`)."
    )
    risk = "A broken or leaky model reaches production automatically."
    checklist = ("D-12",)
    node_types = (ast.Call,)

    def __init__(self) -> None:
        self._repo_has_gate: bool | None = None
        self._refusing: dict[int, bool] = {}

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.Call)
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr not in _PROMOTIONS:
            return
        if scope.flags & Flag.CONDITIONAL or self._can_refuse(scope.function):
            return
        if self._gate_defined(scope.index):
            return
        yield self.finding(
            scope.ctx.location(node),
            f"`{func.attr}` promotes a model version unconditionally",
            evidence=scope.evidence(node),
        )

    def _gate_defined(self, index: PythonIndex) -> bool:
        if self._repo_has_gate is None:
            self._repo_has_gate = any(
                _GATE_NAME.search(f.name)
                for module in index.modules.values()
                for f in module.all_functions
            )
        return self._repo_has_gate

    def _can_refuse(self, function: FunctionInfo | None) -> bool:
        if function is None:
            return False
        key = id(function)
        if key not in self._refusing:
            self._refusing[key] = any(
                isinstance(n, ast.Raise | ast.Assert)
                or (isinstance(n, ast.If) and any(isinstance(b, ast.Return) for b in n.body))
                for n in ast.walk(function.node)
            )
        return self._refusing[key]
