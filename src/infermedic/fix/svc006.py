"""SVC006: validate a FastAPI route's request body with a pydantic model built from examples.

The model comes from evidence, never from a guess: the literal bodies the repo's tests post
to the route (`client.post("/predict", json={...})`, found as the probe finds them) and any
body given with `fix --input`. It goes at module level, right above the route. Then:

- a body parameter typed `dict` becomes `body: PredictRequest`, and the route's first line
  gives the old name its dict back (`payload = body.model_dump(exclude_unset=True)`), so the
  code below runs unchanged; FastAPI answers 422 for a body the model rejects;
- `await request.json()` becomes `PredictRequest.model_validate_json(await request.body())`
  (dumped back to a dict) inside a `try` that raises FastAPI's `RequestValidationError`, so
  a malformed body (or invalid JSON) gets FastAPI's usual 422.
"""

from __future__ import annotations

import json
import re
from typing import Any

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.bodyschema import Inferred, infer_model
from infermedic.fix.pyedit import Parsed, finding_site, with_imports
from infermedic.model import Finding

_DICT_PARAM = re.compile(r"takes the body as `(?P<name>\w+):")
_JSON_READ = re.compile(r"reads the raw body with `await (?P<name>\w+)\.(?P<attr>json|body)\(\)`")
_FLASK = re.compile(r"with `request\.(get_json\(\)|json|body\(\)|form\(\)|get_data\(\))`")
_ROUTE_DECORATOR = re.compile(r"[\w.]+\.(get|post|put|patch|delete|api_route|route)\(")
_BODY_NAMES = ("body", "request_body", "validated_body")


class ValidateBody:
    code = "SVC006"
    title = "validate the body with a pydantic model built from example bodies"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        message = finding.message
        if _FLASK.search(message):
            raise Refused(
                "a Flask/Quart route: validate `request.get_json()` with a pydantic model "
                "(`Model.model_validate(...)`) and answer 422 on `ValidationError` by hand"
            )
        param, read = _DICT_PARAM.search(message), _JSON_READ.search(message)
        if read is not None and read["attr"] == "body":
            raise Refused("the route reads raw bytes (`request.body()`): its format is unknown")
        if param is None and read is None:
            raise Refused("not a FastAPI body parameter or `await request.json()`")
        path, parsed, line = finding_site(finding, workspace)
        function = _route_function(parsed, line)
        taken = frozenset(re.findall(r"[A-Za-z_]\w*", parsed.module.code))
        name = _model_name(function.name.value, taken)
        if param is not None:
            new_function, how = _take_model(parsed, function, param["name"], name)
            extra: list[tuple[str, str]] = []
        else:
            assert read is not None
            new_function, how = _validate_read(parsed, function, read["name"], name)
            extra = [
                ("pydantic", "ValidationError"),
                ("fastapi.exceptions", "RequestValidationError"),
            ]
        route, examples = _evidence(workspace, path, function.name.value)
        inferred = infer_model(name, examples, taken)
        _check(inferred, name, examples)
        module = _insert_before(parsed.module, function, new_function, inferred.source)
        module = with_imports(module, [*inferred.imports, *extra])
        workspace.write(path, module.code)
        return Change(
            code=self.code,
            path=path,
            summary=f"`{route}` {how} `{name}`, inferred from {len(examples)} example bod"
            + ("y" if len(examples) == 1 else "ies"),
            review=f"{path}: check `{name}`'s field types and which fields are optional; "
            "tighten them (ranges, enums) where the examples cannot say",
            where=slug(path, function.name.value),
            finding=finding,
            details={
                "route": route,
                "example": json.dumps(examples[0]),
                "malformed": json.dumps(_malformed(inferred, examples[0])),
            },
        )


def _route_function(parsed: Parsed, line: int) -> cst.FunctionDef:
    """The module-level function holding `line`; refused when it is nested or not decorated."""
    for statement in parsed.module.body:
        if isinstance(statement, cst.FunctionDef):
            first, last = parsed.span(statement)
            if first <= line <= last:
                routes = [
                    d
                    for d in statement.decorators
                    if _ROUTE_DECORATOR.match(parsed.module.code_for_node(d.decorator))
                ]
                if not routes:
                    raise Refused("the finding is not in a route function")
                if len(routes) > 1:
                    raise Refused(
                        f"`{statement.name.value}` is registered as {len(routes)} routes: "
                        "cannot tell which examples belong to it"
                    )
                return statement
    raise Refused("the route is not a module-level function: place a model by hand")


def _evidence(workspace: Workspace, path: str, handler: str) -> tuple[str, list[Any]]:
    """The route (`POST /predict`) and its example bodies: the repo's tests, then `--input`."""
    from infermedic.probe.repo_hints import repo_hints

    hints = repo_hints(workspace.root)
    routes = [r for r in hints.routes if r.file == path and r.handler.rsplit(".", 1)[-1] == handler]
    if len({(r.method, r.path) for r in routes}) != 1:
        raise Refused(
            f"`{handler}` is registered as {len(routes)} routes: cannot tell which examples "
            "belong to it"
        )
    route = routes[0]
    examples = [e.body for e in hints.examples_for(route.path)] + list(workspace.inputs)
    if not examples:
        raise Refused(
            f"no example body: no test in the repo posts a literal JSON body to {route.path}; "
            "give one with `infermedic fix --input body.json`"
        )
    return f"{route.method} {route.path}", examples


def _model_name(handler: str, taken: frozenset[str]) -> str:
    base = "".join(p[:1].upper() + p[1:] for p in handler.split("_") if p) + "Request"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}{number}", number + 1
    return name


def _check(inferred: Inferred, name: str, examples: list[Any]) -> None:
    """Every example must validate against the model just written (our own generated source,
    built from identifiers already checked and type names only)."""
    import sys
    import types

    from pydantic import BaseModel, ConfigDict, ValidationError

    # a real (temporary) module: pydantic resolves nested model names through sys.modules
    module = types.ModuleType("_infermedic_inferred_model")
    module.__dict__.update(BaseModel=BaseModel, ConfigDict=ConfigDict, Any=Any)
    sys.modules[module.__name__] = module
    try:
        exec(compile(inferred.source, "<inferred model>", "exec"), module.__dict__)  # noqa: S102
    finally:
        del sys.modules[module.__name__]
    model = module.__dict__[name]
    for example in examples:
        try:
            model.model_validate(example)
        except ValidationError as exc:  # a bug in the inference: never write such a model
            raise Refused(f"an example does not validate against the model: {exc}") from exc


def _take_model(
    parsed: Parsed, function: cst.FunctionDef, old: str, model: str
) -> tuple[cst.FunctionDef, str]:
    params = [*function.params.params, *function.params.kwonly_params]
    found = [p for p in params if p.name.value == old]
    if len(found) != 1:
        raise Refused(f"cannot find the parameter `{old}` of `{function.name.value}`")
    param = found[0]
    if param.default is not None:
        raise Refused(f"`{old}` has a default (`Body(...)`?): change it to `{model}` by hand")
    used = {
        node.value
        for node in parsed.nodes(cst.Name)
        if isinstance(node, cst.Name) and _inside(parsed, node, function)
    }
    new = next((n for n in _BODY_NAMES if n not in used), None)
    if new is None:
        raise Refused("no free name for the validated body parameter")
    annotation = cst.Annotation(annotation=cst.Name(model))
    replaced = param.with_changes(name=cst.Name(new), annotation=annotation)
    new_params = function.params.deep_replace(param, replaced)
    assert isinstance(new_params, cst.Parameters)
    restore = cst.parse_statement(f"{old} = {new}.model_dump(exclude_unset=True)\n")
    body = function.body
    if not isinstance(body, cst.IndentedBlock):
        raise Refused("the route's body is on its `def` line")
    statements = list(body.body)
    at = 1 if statements and _is_docstring(statements[0]) else 0
    statements.insert(at, restore)
    return (
        function.with_changes(params=new_params, body=body.with_changes(body=statements)),
        "now takes",
    )


def _validate_read(
    parsed: Parsed, function: cst.FunctionDef, request: str, model: str
) -> tuple[cst.FunctionDef, str]:
    code = parsed.module.code_for_node
    reads = [
        node
        for node in parsed.nodes(cst.Await)
        if isinstance(node, cst.Await)
        and re.fullmatch(rf"{request}\s*\.\s*json\(\s*\)", code(node.expression).strip())
        and _inside(parsed, node, function)
    ]
    if len(reads) != 1:
        raise Refused(f"the route reads `{request}.json()` {len(reads)} times: validate by hand")
    read = reads[0]
    statement: cst.CSTNode | None = parsed.parent(read)
    while statement is not None and not isinstance(statement, cst.SimpleStatementLine):
        if isinstance(statement, cst.BaseCompoundStatement | cst.Lambda):
            raise Refused("the body is read in a compound statement's header: validate by hand")
        statement = parsed.parent(statement)
    if statement is None or len(statement.body) != 1:
        raise Refused("the body is read on a line with several statements: validate by hand")
    validated = cst.parse_expression(
        f"{model}.model_validate_json(await {request}.body()).model_dump(exclude_unset=True)"
    )
    plain = statement.deep_replace(read, validated)
    assert isinstance(plain, cst.SimpleStatementLine)
    text = code(plain.with_changes(leading_lines=[])).strip()
    guarded = cst.parse_statement(
        f"try:\n    {text}\nexcept ValidationError as exc:\n"
        "    raise RequestValidationError(exc.errors(include_url=False, include_context=False))"
        " from exc\n"
    )
    guarded = guarded.with_changes(leading_lines=statement.leading_lines)
    new = function.deep_replace(statement, guarded)
    assert isinstance(new, cst.FunctionDef)
    return new, "now validates its body with"


def _inside(parsed: Parsed, node: cst.CSTNode, function: cst.FunctionDef) -> bool:
    current = parsed.parent(node)
    while current is not None:
        if current is function:
            return True
        current = parsed.parent(current)
    return False


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )


def _insert_before(
    module: cst.Module, function: cst.FunctionDef, new_function: cst.FunctionDef, source: str
) -> cst.Module:
    classes = [
        statement.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        for statement in cst.parse_module(source).body
    ]
    body: list[cst.BaseStatement] = []
    for statement in module.body:
        if statement is function:
            classes[0] = classes[0].with_changes(leading_lines=function.leading_lines)
            body.extend(classes)
            body.append(new_function.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()]))
        else:
            body.append(statement)
    return module.with_changes(body=body)


def _malformed(inferred: Inferred, example: dict[str, Any]) -> list[Any]:
    """Bodies the model rejects, made from a real example: one field of the wrong type, and
    one required field left out."""
    bad: list[Any] = []
    if inferred.wrong is not None and inferred.wrong[0] in example:
        field, value = inferred.wrong
        bad.append({**example, field: value})
    if inferred.required:
        bad.append({k: v for k, v in example.items() if k != inferred.required[0]})
    return bad


FIXER = ValidateBody()
