"""SVC008: a torch forward pass on the request path with autograd on."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import call_text
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.rule import PythonRule, Scope, first
from infermedic.audit.python.walker import Binding, BindingKind, ClassInfo, Flag, FunctionInfo
from infermedic.model import Finding, Severity


class InferenceWithoutNoGrad(PythonRule):
    """
    ## What it does
    Checks for PyTorch forward passes (`model(x)`, `model.forward(x)`, `model.generate(...)`
    on a model from `torch.load`, `torch.jit.load`, `from_pretrained` or a repo
    `nn.Module` subclass) executed while serving a request without `torch.no_grad()` /
    `torch.inference_mode()` around them, on the handler or anywhere up its call chain.

    ## Why is this bad?
    With autograd on, every forward pass records the graph and keeps intermediate
    activations alive for a backward pass that never comes: memory per request grows by
    the size of the activations (often several times the weights), latency rises, and
    under concurrency the pod runs out of memory.

    ## Example
    ```python
    import torch
    from fastapi import FastAPI

    app = FastAPI()
    model = torch.jit.load("model.pt")

    @app.post("/predict")
    def predict(features: list[float]):
        return {"score": float(model(torch.tensor([features]))[0])}
    ```

    Use instead:
    ```python
    import torch
    from fastapi import FastAPI

    app = FastAPI()
    model = torch.jit.load("model.pt").eval()

    @app.post("/predict")
    def predict(features: list[float]):
        with torch.inference_mode():
            return {"score": float(model(torch.tensor([features]))[0])}
    ```

    ## Known problems
    `transformers` pipelines disable gradients themselves and are not reported; neither is
    a repo that turns gradients off globally (`torch.set_grad_enabled(False)`). A model
    handed in through a parameter is not recognised. Whether `model.eval()` was called is
    not checked.
    """

    code = "SVC008"
    name = "inference-without-no-grad"
    severity = Severity.MEDIUM
    summary = "A torch forward pass serves a request with autograd on."
    fix = (
        "Wrap the forward pass in `with torch.inference_mode():` and call `model.eval()` "
        "once at load."
    )
    risk = "Each request keeps activations for a backward pass: memory and latency grow."
    checklist = ()
    node_types = (ast.Call,)

    def __init__(self) -> None:
        self._grad_off_globally: bool | None = None

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.Call)
        if scope.flags & Flag.NO_GRAD:
            return
        reaches = [r for r in scope.on_request_path() if not r.no_grad]
        if not reaches or _decorated_no_grad(scope.function):
            return
        what = self._torch_forward(node, scope)
        if what is None or self._grad_disabled_globally(scope.index):
            return
        reach = first(reaches)
        yield self.finding(
            scope.ctx.location(node),
            f"`{what}` runs a forward pass with autograd on while serving `{reach.route.label}`",
            evidence=scope.evidence(node, reach, what),
            fingerprint_key=f"{what}|{reach.route.label}",
        )

    def _torch_forward(self, node: ast.Call, scope: Scope) -> str | None:
        func = node.func
        holder: Binding | None
        if isinstance(func, ast.Attribute) and func.attr in {"forward", "generate"}:
            holder = scope.binding(func.value)
        elif isinstance(func, ast.Name | ast.Attribute | ast.Subscript):
            holder = scope.binding(func)
        else:
            return None
        if holder is None:
            return None
        if holder.kind is BindingKind.MODEL:
            torch_model = holder.origin in kc.TORCH_LOADERS or (
                holder.origin.endswith("from_pretrained") and "pipeline" not in holder.origin
            )
            return call_text(node) if torch_model else None
        if holder.kind is BindingKind.INSTANCE:
            cls = scope.index.lookup(holder.origin)
            if isinstance(cls, ClassInfo) and scope.index.base_names(cls) & kc.TORCH_MODULE_BASES:
                return call_text(node)
        return None

    def _grad_disabled_globally(self, index: PythonIndex) -> bool:
        if self._grad_off_globally is None:
            self._grad_off_globally = any(
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Call)
                and module.ctx.qualified_name(node.value.func) == "torch.set_grad_enabled"
                and node.value.args
                and isinstance(node.value.args[0], ast.Constant)
                and node.value.args[0].value is False
                for module in index.modules.values()
                if any(q.startswith("torch") for q in module.ctx.imports.values())
                for node in ast.walk(module.ctx.tree)
            )
        return self._grad_off_globally


def _decorated_no_grad(function: FunctionInfo | None) -> bool:
    while function is not None:
        if any(d in kc.NO_GRAD_CONTEXTS for d in function.decorators):
            return True
        function = function.parent
    return False
