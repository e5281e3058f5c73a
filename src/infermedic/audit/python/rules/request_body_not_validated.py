"""SVC006: a route reads the raw request body and never validates it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from infermedic.audit.python.context import unparse
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.audit.python.walker import FunctionInfo
from infermedic.model import Finding, Severity
from infermedic.settings import Settings

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
# FastAPI reads a parameter annotated with one of these from the JSON body and checks only
# that it is an object: every key and value goes through unchecked.
_RAW_BODY_TYPES = frozenset({"dict", "Dict", "Mapping", "MutableMapping"})
# Parameter defaults that make FastAPI read something other than the body.
_NOT_BODY = frozenset({"Depends", "Security", "Query", "Header", "Cookie", "Path"})


class RequestBodyNotValidated(PythonRule):
    """
    ## What it does
    Checks for route handlers that read the raw request body (`await request.json()`,
    `await request.body()`, Flask's `request.get_json()` / `request.json`, a FastAPI body
    parameter typed `dict` or `dict[str, Any]`) and never pass it through a schema: no
    pydantic model (`Model(**data)`, `model_validate`), no marshmallow `schema.load`, no
    `jsonschema.validate`, no call to a `validate_*` helper, and no hand-written check that
    answers 4xx (`if "features" not in payload: abort(400)`, `return JSONResponse(
    status_code=422)`, `raise HTTPException(400)`).

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
    Validation done by a helper whose name does not say so is not seen. A hand-written
    check is taken as validation without judging how much of the body it covers.
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

    def check_project(self, index: PythonIndex, settings: Settings) -> Iterator[Finding]:
        for route in index.routes:
            if route.framework != "fastapi":
                continue
            function = route.function
            raw = next((a for a in _parameters(function.node) if _raw_body(a)), None)
            if raw is None or self._validates(function):
                continue
            ctx = function.module.ctx
            annotation = unparse(raw[0].annotation) if raw[0].annotation else ""
            yield self.finding(
                ctx.location(raw[0]),
                f"route `{route.label}` takes the body as `{raw[0].arg}: {annotation}`, "
                "which FastAPI does not validate beyond being a JSON object",
                evidence=[ctx.source_evidence(raw[0])],
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
                return unparse(arg.annotation).rsplit(".", 1)[-1] == "Request"
        return False

    def _validates(self, function: FunctionInfo) -> bool:
        key = id(function)
        if key not in self._validated:
            self._validated[key] = any(_is_validation(n) for n in ast.walk(function.node))
        return self._validated[key]


def _parameters(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
) -> list[tuple[ast.arg, ast.expr | None]]:
    """Each parameter with its default (None when it has none)."""
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    found = list(zip(positional, [*defaults, *args.defaults], strict=True))
    return found + list(zip(args.kwonlyargs, args.kw_defaults, strict=True))


def _raw_body(parameter: tuple[ast.arg, ast.expr | None]) -> bool:
    """A parameter FastAPI fills with the unchecked JSON body: `payload: dict[str, Any]`."""
    arg, default = parameter
    annotation = arg.annotation
    metadata: list[ast.expr] = [default] if default is not None else []
    if isinstance(annotation, ast.Subscript) and _last_name(annotation.value) == "Annotated":
        inner = annotation.slice
        if not isinstance(inner, ast.Tuple) or not inner.elts:
            return False
        annotation, metadata = inner.elts[0], [*metadata, *inner.elts[1:]]
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:  # a string annotation: `payload: "dict[str, Any]"`
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
    if annotation is None:
        return False
    if isinstance(annotation, ast.Subscript):
        # `dict[str, float]` has its values checked; only `dict[str, Any]` lets anything in.
        values = annotation.slice.elts[-1] if isinstance(annotation.slice, ast.Tuple) else None
        if values is None or _last_name(values) not in {"Any", "object"}:
            return False
        annotation = annotation.value
    if _last_name(annotation) not in _RAW_BODY_TYPES:
        return False
    return not any(isinstance(m, ast.Call) and _last_name(m.func) in _NOT_BODY for m in metadata)


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _is_validation(node: ast.AST) -> bool:
    if isinstance(node, ast.If):
        return _rejects_with_4xx(node)
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in _VALIDATORS:
        return True
    if "validat" in _last_name(func).lower():
        return True  # `validate_payload(data)`, `check.validate_features(...)`
    # `PredictRequest(**payload)`: a class built from the whole payload
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name[:1].isupper() and any(k.arg is None for k in node.keywords)


_CLIENT_ERROR_NAME = re.compile(r"HTTP_4\d\d|BAD_REQUEST|UNPROCESSABLE|BadRequest|Unprocessable")


def _rejects_with_4xx(branch: ast.If) -> bool:
    """Hand-written validation: an `if` whose branch answers 4xx (`return JSONResponse(
    status_code=422)`, `return jsonify(...), 400`, `abort(400)`, `raise HTTPException(400)`)."""
    for statement in [*branch.body, *branch.orelse]:
        if not isinstance(statement, ast.Return | ast.Raise | ast.Expr):
            continue
        for sub in ast.walk(statement):
            if (
                isinstance(sub, ast.Constant)
                and isinstance(sub.value, int)
                and not isinstance(sub.value, bool)
                and 400 <= sub.value < 500
            ):
                return True
            if isinstance(sub, ast.Name | ast.Attribute) and _CLIENT_ERROR_NAME.search(
                _last_name(sub)
            ):
                return True
    return False
