"""SVC002 in a FastAPI app: hoist the per-request load into the lifespan, onto `app.state`.

`model = joblib.load(PATH)` in a route of `app = FastAPI(...)` becomes
`model = request.app.state.model`, and the load moves into the app's lifespan, just before
its `yield` (after whatever the lifespan prepares first, such as the artifact itself):
`app.state.model = joblib.load(PATH)`. An app without a lifespan gets one
(`FastAPI(..., lifespan=_lifespan)`). The route gets a `request: Request` parameter when it
has none. `NotApplicable` says why this form does not fit (no FastAPI app in the file, the
route is on another router, `on_event` handlers that a lifespan would silence, a lifespan
that is not a plain generator function here); `svc002` then keeps the module-level cache.
"""

from __future__ import annotations

import libcst as cst

from infermedic.fix.pyedit import Parsed, before_yield, code_of, dotted, with_arg

_NEW_LIFESPAN = '''@contextlib.asynccontextmanager
async def {name}({app}):
    """Loads the model once, at start-up (`infermedic fix` SVC002)."""
    yield
'''


class NotApplicable(Exception):  # noqa: N818 - an outcome: use the other form of the fix
    """The lifespan form does not fit this code; the message says why."""


def hoist(
    parsed: Parsed, function: cst.FunctionDef, call: cst.Call, callee: str
) -> tuple[cst.Module, str, list[tuple[str, str | None]]]:
    """The module with the load hoisted, the `app.state` attribute used, and the imports
    the edit needs."""
    module = parsed.module
    app_name, app_call, app_stmt = _fastapi_app(module)
    if not any(_decorates(module, d, app_name) for d in function.decorators):
        raise NotApplicable(f"`{function.name.value}` is not a route of `{app_name}` here")
    if f"{app_name}.on_event(" in module.code or any(
        a.keyword is not None and a.keyword.value in ("on_startup", "on_shutdown")
        for a in app_call.args
    ):
        raise NotApplicable("the app has start-up/shutdown handlers a lifespan would silence")
    lifespan = _lifespan(module, app_call)
    load = code_of(module, call)
    attr = _attribute(parsed, call, callee, lifespan, load)
    request, param = _request(function)
    imports: list[tuple[str, str | None]] = []
    if param is not None:
        imports.append(("fastapi", "Request"))
    state = cst.parse_expression(f"{request}.app.state.{attr}")

    if lifespan is None:
        name = _free(module, "_lifespan")
        new_func = cst.parse_statement(_NEW_LIFESPAN.format(name=name, app="app"))
        assert isinstance(new_func, cst.FunctionDef)
        lifespan_stmt: cst.FunctionDef | None = _with_load(new_func, "app", attr, load)
        imports.append(("contextlib", None))
    else:
        name, lifespan_stmt = lifespan.name.value, None

    class Hoist(cst.CSTTransformer):
        def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
            if original_node is call:
                return state.with_changes(lpar=call.lpar, rpar=call.rpar)
            if original_node is app_call and lifespan is None:
                kwarg = cst.Arg(
                    cst.Name(name),
                    keyword=cst.Name("lifespan"),
                    equal=cst.AssignEqual(
                        whitespace_before=cst.SimpleWhitespace(""),
                        whitespace_after=cst.SimpleWhitespace(""),
                    ),
                )
                return with_arg(updated_node, kwarg)
            return updated_node

        def leave_FunctionDef(
            self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
        ) -> cst.FunctionDef:
            if original_node is function and param is not None:
                return updated_node.with_changes(params=_add_param(updated_node.params, param))
            if original_node is lifespan and lifespan is not None:
                return _with_load(updated_node, _first_param(lifespan), attr, load)
            return updated_node

    result = module.visit(Hoist())
    assert isinstance(result, cst.Module)
    if lifespan_stmt is not None:
        body = list(result.body)
        index = next(i for i, s in enumerate(module.body) if s is app_stmt)
        app_line = body[index]
        spaced = [cst.EmptyLine(), cst.EmptyLine()]
        if not app_line.leading_lines:
            app_line = app_line.with_changes(leading_lines=spaced)
        body[index : index + 1] = [lifespan_stmt.with_changes(leading_lines=spaced), app_line]
        result = result.with_changes(body=body)
    return result, attr, imports


def _fastapi_app(module: cst.Module) -> tuple[str, cst.Call, cst.SimpleStatementLine]:
    found = [
        (small.targets[0].target.value, small.value, stmt)
        for stmt in module.body
        if isinstance(stmt, cst.SimpleStatementLine)
        for small in stmt.body
        if isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and isinstance(small.value, cst.Call)
        and (dotted(small.value.func) or "").rsplit(".", 1)[-1] == "FastAPI"
    ]
    if len(found) != 1:
        raise NotApplicable("the file does not make exactly one `FastAPI(...)` app")
    return found[0]


def _decorates(module: cst.Module, decorator: cst.Decorator, app: str) -> bool:
    return code_of(module, decorator.decorator).startswith(f"{app}.")


def _lifespan(module: cst.Module, app_call: cst.Call) -> cst.FunctionDef | None:
    arg = next(
        (a for a in app_call.args if a.keyword is not None and a.keyword.value == "lifespan"),
        None,
    )
    if arg is None:
        return None
    if not isinstance(arg.value, cst.Name):
        raise NotApplicable("the app's lifespan is not a function of this module")
    name = arg.value.value
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            if len(_yields(stmt)) != 1 or not stmt.params.params:
                raise NotApplicable(f"the lifespan `{name}` does not yield exactly once")
            return stmt
    raise NotApplicable(f"the lifespan `{name}` is not defined in this module")


def _yields(function: cst.FunctionDef) -> list[cst.SimpleStatementLine]:
    found: list[cst.SimpleStatementLine] = []

    class Collect(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            if any(isinstance(s, cst.Expr) and isinstance(s.value, cst.Yield) for s in node.body):
                found.append(node)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is function

    function.visit(Collect())
    return found


def _first_param(function: cst.FunctionDef) -> str:
    return function.params.params[0].name.value


def _attribute(
    parsed: Parsed, call: cst.Call, callee: str, lifespan: cst.FunctionDef | None, load: str
) -> str:
    """The `app.state` attribute: the route's variable name, else the loader's name; the
    same load already hoisted by an earlier fix reuses its attribute."""
    parent = parsed.parent(call)
    base = callee.replace(".", "_")
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
        target = parent.targets[0].target
        if isinstance(target, cst.Name):
            base = target.value
    taken: dict[str, str] = {}
    if lifespan is not None:
        app = _first_param(lifespan)
        for node in lifespan.body.body:
            if isinstance(node, cst.SimpleStatementLine):
                for small in node.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        target = small.targets[0].target
                        if isinstance(target, cst.Attribute) and (
                            dotted(target.value) == f"{app}.state"
                        ):
                            taken[target.attr.value] = parsed.module.code_for_node(small.value)
    for suffix in ("", *(f"_{n}" for n in range(2, 50))):
        name = base + suffix
        if name not in taken or taken[name] == load:
            return name
    raise NotApplicable("too many app.state attributes of that name")


def _with_load(function: cst.FunctionDef, app: str, attr: str, load: str) -> cst.FunctionDef:
    """`function` with `app.state.ATTR = LOAD` just before its yield (once)."""
    return before_yield(function, cst.parse_statement(f"{app}.state.{attr} = {load}\n"))


def _request(function: cst.FunctionDef) -> tuple[str, cst.Param | None]:
    """The route's `Request` parameter name, or `request` and the parameter to add."""
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    for param in every:
        annotation = param.annotation
        if annotation is not None and (dotted(annotation.annotation) or "").endswith("Request"):
            return param.name.value, None
    names = {p.name.value for p in every}
    name = next(n for n in ("request", "http_request", "_request") if n not in names)
    return name, cst.Param(
        name=cst.Name(name), annotation=cst.Annotation(annotation=cst.Name("Request"))
    )


def _add_param(params: cst.Parameters, param: cst.Param) -> cst.Parameters:
    """`params` with `param` added: last positional when nothing has a default, else
    keyword-only (a parameter without a default cannot follow one with)."""
    defaults = any(p.default is not None for p in params.params)
    if not defaults and not params.kwonly_params and not isinstance(params.star_arg, cst.Param):
        items = list(params.params)
        if items:
            items[-1] = items[-1].with_changes(
                comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
        return params.with_changes(params=[*items, param])
    star = params.star_arg if isinstance(params.star_arg, cst.Param | cst.ParamStar) else None
    return params.with_changes(
        star_arg=star or cst.ParamStar(), kwonly_params=[*params.kwonly_params, param]
    )


def _free(module: cst.Module, base: str) -> str:
    names = {s.name.value for s in module.body if isinstance(s, cst.FunctionDef)}
    return next(f"{base}{s}" for s in ("", "_2", "_3", "_4") if f"{base}{s}" not in names)
