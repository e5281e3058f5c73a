"""SVC006: a route reads the raw request body and never validates it."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.audit.python.walker import FunctionInfo
from infermedic.model import Finding, Severity

_VALIDATORS = frozenset(
    {
        "model_validate",
        "model_validate_json",
        "parse_obj",
        "parse_raw",
        "validate",
        "validate_python",
        "validate_json",
        "load",
        "loads_validated",
        "from_dict",
    }
)
_RAW_READERS = frozenset({"json", "get_json", "body", "form", "get_data"})


class RequestBodyNotValidated(PythonRule):
    """
    ## What it does
    Checks for route handlers that read the raw request body (`await request.json()`,
    `await request.body()`, Flask's `request.get_json()` / `request.json`) and never pass
    it through a schema: no pydantic model (`Model(**data)`, `model_validate`), no
    marshmallow `schema.load`, no `jsonschema.validate`.

    ## Why is this bad?
    A model service trusts the shape of its input. Without a schema a missing field, a
    string where a number belongs or a NaN reaches the model and comes back as a 500 (or,
    worse, as a confident wrong prediction) instead of a 422 that tells the caller what to
    fix. Validation also documents the contract in the OpenAPI schema.

    ## Example
    ```python
    from fastapi import FastAPI, Request

    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request):
        payload = await request.json()
        return {"n": len(payload["features"])}
    ```

    Use instead:
    ```python
    from fastapi import FastAPI
    from pydantic import BaseModel

    app = FastAPI()

    class PredictRequest(BaseModel):
        features: list[float]

    @app.post("/predict")
    async def predict(body: PredictRequest):
        return {"n": len(body.features)}
    ```

    ## Known problems
    Validation done by a helper that receives the request object is not seen; checks
    written by hand (`if "features" not in payload: abort(400)`) are not recognised.
    """

    code = "SVC006"
    name = "request-body-not-validated"
    severity = Severity.MEDIUM
    summary = "A route reads the raw request body without validating it against a schema."
    fix = "Declare a pydantic model parameter so malformed input gets a 422, not a 500."
    risk = "Malformed input reaches the model: 5xx errors or silent wrong predictions."
    checklist = ()
    node_types = (ast.Call, ast.Attribute)

    def __init__(self) -> None:
        self._validated: dict[int, bool] = {}

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        function = scope.function
        if function is None:
            return
        read = self._raw_read(node, scope)
        if read is None:
            return
        routes = [r for r in scope.reaches() if len(r.chain) == 1]
        if not routes or self._validates(function):
            return
        yield self.finding(
            scope.ctx.location(node),
            f"route `{routes[0].route.label}` reads the raw body with `{read}` "
            "and never validates it",
            evidence=scope.evidence(node),
        )

    def _raw_read(self, node: ast.AST, scope: Scope) -> str | None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            receiver = node.func.value
            if attr not in _RAW_READERS or not isinstance(receiver, ast.Name):
                return None
            if scope.qualified(receiver) in {"flask.request", "quart.request"}:
                return f"request.{attr}()"
            if self._is_request_param(receiver.id, scope.function) and attr in {"json", "body"}:
                return f"await {receiver.id}.{attr}()"
            return None
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "json"
            and isinstance(node.value, ast.Name)
            and scope.qualified(node.value) == "flask.request"
        ):
            return "request.json"
        return None

    def _is_request_param(self, name: str, function: FunctionInfo | None) -> bool:
        if function is None:
            return False
        for arg in (*function.node.args.args, *function.node.args.kwonlyargs):
            if arg.arg == name and arg.annotation is not None:
                return ast.unparse(arg.annotation).rsplit(".", 1)[-1] == "Request"
        return False

    def _validates(self, function: FunctionInfo) -> bool:
        key = id(function)
        if key not in self._validated:
            self._validated[key] = any(_is_validation(n) for n in ast.walk(function.node))
        return self._validated[key]


def _is_validation(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in _VALIDATORS:
        return True
    # `PredictRequest(**payload)`: a class built from the whole payload
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name[:1].isupper() and any(k.arg is None for k in node.keywords)
