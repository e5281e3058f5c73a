"""SVC011: load the lazily built model at start-up, not on the first request.

The lazy initializer (the function holding `if model is None: model = load(...)`, or the
`@lru_cache` loader) stays as it is, so every caller keeps working; it is also called once
at start-up, in the module that makes the app:

- FastAPI, Starlette: in the app's lifespan, just before its `yield` (a lifespan is made,
  `FastAPI(..., lifespan=_lifespan)`, when the app has none and no start-up handlers); in
  the first `@app.on_event("startup")` handler, or added to `on_startup=[...]`, when the
  app uses those. uvicorn answers no request, `/ready` included, until the lifespan's
  start-up is done, so readiness waits for the load.
- Flask: a module-level call at the end of the module (before `if __name__ == "__main__":`):
  the server imports the app, so the model, before a worker serves.

A guard written inline in the route (`global model; if model is None: model = ...`) first
moves into a module-level function (`_load_model()`) that the route calls. Refused, with the
reason, when the initializer needs arguments, lives where the app's module cannot name it
(a method without a module-level instance, a function the app module does not import), the
inline guard reads the route's own variables, or the app is not made in one known way.
"""

from __future__ import annotations

import ast
import re

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, chain_evidence, slug
from infermedic.fix.lifespan import _yields
from infermedic.fix.pyedit import (
    Parsed,
    before_yield,
    code_of,
    dotted,
    replace_nodes,
    top_level_index,
    variable_names,
    with_arg,
    with_imports,
)
from infermedic.model import Finding

_APPS = {"FastAPI": "fastapi", "Starlette": "starlette", "Flask": "flask"}
MARK = "`infermedic fix` SVC011"
_NEW_LIFESPAN = f'''@contextlib.asynccontextmanager
async def {{name}}(app):
    """Loads the model before the app takes traffic ({MARK})."""
    {{call}}
    yield
'''
_LOADER = f'''def {{name}}():
    """Loads the model once, at start-up and on demand ({MARK})."""
'''


class LoadAtStartup:
    code = "SVC011"
    title = "load the lazily built model at start-up"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        facts = _facts(finding)
        init_file = str(facts["file"])
        route_file = _route_file(finding) or init_file
        app_file = next(
            (p for p in dict.fromkeys((route_file, init_file)) if _app_of(workspace, p)), None
        )
        if app_file is None:
            raise Refused(f"no FastAPI, Starlette or Flask app is made in {route_file}")
        if facts.get("is_route"):
            if app_file != init_file:
                raise Refused(f"the route's guard is in {init_file}, the app in {app_file}")
            call = _extract_guard(finding, workspace, init_file)
            where_init = call
        else:
            call = _call_text(workspace, facts, app_file, init_file)
            where_init = str(facts["qualname"])
        module, how = _at_startup(workspace, app_file, call, _is_async(workspace, facts))
        workspace.write(app_file, module.code)
        return Change(
            code=self.code,
            path=app_file,
            summary=f"`{call}` now runs at start-up ({how}), before the app takes traffic",
            review=f"{app_file}: `{call}` loads the model at start-up ({how}); a failed load "
            "now stops the start-up instead of failing the first request; the lazy path "
            f"in `{where_init}` stays as a fallback. Add a warm-up prediction there if the "
            "model has lazy state of its own",
            where=slug(app_file, "startup"),
            finding=finding,
            details={"initializer": call.removesuffix("()"), "how": how},
        )


def _facts(finding: Finding) -> dict[str, object]:
    for item in finding.evidence:
        if item.values and "initializer" in item.values:
            return dict(item.values)
    raise Refused("the finding does not name its lazy initializer")


def _route_file(finding: Finding) -> str | None:
    chain = chain_evidence(finding)
    return chain[1] if chain is not None else None


def _app_of(workspace: Workspace, relpath: str) -> tuple[str, str, cst.Call] | None:
    """The one module-level app made in `relpath`: its name, framework and call."""
    try:
        return _app_in(cst.parse_module(workspace.read(relpath)))
    except (cst.ParserSyntaxError, Refused):
        return None


def _app_in(module: cst.Module) -> tuple[str, str, cst.Call] | None:
    found = [
        (small.targets[0].target.value, kind, small.value)
        for stmt in module.body
        if isinstance(stmt, cst.SimpleStatementLine)
        for small in stmt.body
        if isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and isinstance(small.value, cst.Call)
        and (kind := _APPS.get((dotted(small.value.func) or "").rsplit(".", 1)[-1])) is not None
    ]
    return found[0] if len(found) == 1 else None


# -- what to call at start-up ------------------------------------------------------------
def _function_node(
    tree: ast.Module, name: str, cls: str
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    body = tree.body
    if cls:
        owner = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == cls), None)
        if owner is None:
            return None
        body = owner.body
    return next(
        (
            n
            for n in body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
        ),
        None,
    )


def _is_async(workspace: Workspace, facts: dict[str, object]) -> bool:
    if facts.get("is_route"):
        return False  # the extracted loader is a plain function
    tree = ast.parse(workspace.read(str(facts["file"])))
    node = _function_node(tree, str(facts["initializer"]), str(facts.get("class") or ""))
    return isinstance(node, ast.AsyncFunctionDef)


def _call_text(
    workspace: Workspace, facts: dict[str, object], app_file: str, init_file: str
) -> str:
    """How the app's module calls the initializer with no arguments (`get_model()`,
    `holder.get()`, `models.get_model()`)."""
    name, cls = str(facts["initializer"]), str(facts.get("class") or "")
    tree = ast.parse(workspace.read(init_file))
    node = _function_node(tree, name, cls)
    if node is None:
        raise Refused(f"cannot find `{facts['qualname']}` in {init_file}")
    args = node.args
    positional = [*args.posonlyargs, *args.args][1 if cls else 0 :]
    required = len(positional) - len(args.defaults)
    required += sum(1 for d in args.kw_defaults if d is None)
    if required > 0 or (cls and _is_static(node)):
        raise Refused(f"`{facts['qualname']}` takes arguments: it cannot run before a request")
    app_tree = tree if app_file == init_file else ast.parse(workspace.read(app_file))
    owner = _module_name(init_file)
    if not cls:
        if app_file == init_file:
            return f"{name}()"
        alias = _imported(app_tree, name, owner)
        if alias is None:
            raise Refused(f"{app_file} does not import `{name}` from {init_file}")
        return f"{alias}()"
    instances = _instances(tree, cls)
    if app_file == init_file:
        if len(instances) != 1:
            raise Refused(f"no single module-level instance of `{cls}` to call `{name}` on")
        return f"{instances[0]}.{name}()"
    for instance in _instances(app_tree, cls) or instances:
        alias = instance if _instances(app_tree, cls) else _imported(app_tree, instance, owner)
        if alias is not None:
            return f"{alias}.{name}()"
    raise Refused(f"{app_file} names no module-level instance of `{cls}` to call `{name}` on")


def _is_static(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)


def _module_name(relpath: str) -> str:
    return relpath.removesuffix(".py").rsplit("/", 1)[-1]


def _imported(tree: ast.Module, name: str, owner: str) -> str | None:
    """The name `tree` binds to `name` imported from a module whose last part is `owner`."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").rsplit(".", 1)[-1] == owner:
            for alias in node.names:
                if alias.name == name:
                    return alias.asname or alias.name
        if isinstance(node, ast.ImportFrom) and node.module in (None, ""):
            continue
    return None


def _instances(tree: ast.Module, cls: str) -> list[str]:
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            called = node.value.func
            text = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            if text == cls:
                found += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return found


# -- an inline guard becomes a loader function -----------------------------------------------
def _extract_guard(finding: Finding, workspace: Workspace, path: str) -> str:
    parsed = Parsed(workspace, path)
    line = workspace.line(path, finding.location.line or 0)
    column = finding.location.column
    calls = parsed.calls_at(line, (column - 1) if column else None)
    if len(calls) != 1:
        raise Refused(f"cannot tell which call at {path}:{line} loads the model")
    guard, function = _guard_and_function(parsed, calls[0])
    declared = _globals(function)
    local = _locals(function, guard) - declared
    used = {n.value for n in variable_names(guard)}
    if used & local:
        raise Refused(
            f"the guard reads the route's own variables ({', '.join(sorted(used & local))})"
        )
    if _has(guard, (cst.Return, cst.Yield, cst.Await)):
        raise Refused("the guarded block returns, yields or awaits: it cannot move out")
    assigned = _assigned(guard)
    if not assigned & declared and not _stores_elsewhere(guard):
        raise Refused("the guard fills a variable of the route, not module state")
    holder = sorted(assigned & declared)[0] if assigned & declared else "model"
    name = _free(parsed.module, f"_load_{re.sub(r'[^a-z0-9]+', '_', holder.lower()).strip('_')}")
    head = _LOADER.format(name=name)
    needed = sorted(declared & (assigned | used))
    lines = [f"global {', '.join(needed)}\n"] if needed else []
    text = head + "".join("    " + ln for ln in lines)
    loader = cst.parse_statement(text + "    pass\n")
    assert isinstance(loader, cst.FunctionDef)
    body = list(loader.body.body)[:-1] + [guard.with_changes(leading_lines=[])]
    loader = loader.with_changes(
        body=loader.body.with_changes(body=body),
        leading_lines=[cst.EmptyLine(), cst.EmptyLine()],
    )
    call = cst.parse_statement(f"{name}()\n").with_changes(leading_lines=guard.leading_lines)
    moved = replace_nodes(parsed.module, {guard: call})
    top = top_level_index(parsed, function, "the route's top-level statement")
    statements = list(moved.body)
    statements.insert(top, loader)
    workspace.write(path, moved.with_changes(body=statements).code)
    return f"{name}()"


def _guard_and_function(parsed: Parsed, call: cst.Call) -> tuple[cst.If, cst.FunctionDef]:
    guard: cst.If | None = None
    current: cst.CSTNode | None = parsed.parent(call)
    while current is not None and not isinstance(current, cst.FunctionDef):
        if isinstance(current, cst.If) and guard is None:
            guard = current
        current = parsed.parent(current)
    if guard is None or current is None:
        raise Refused("cannot find the lazy guard around the load")
    block = parsed.parent(guard)
    if not (isinstance(block, cst.IndentedBlock) and parsed.parent(block) is current):
        raise Refused("the lazy guard is nested in another block of the route")
    return guard, current


def _globals(function: cst.FunctionDef) -> set[str]:
    found: set[str] = set()

    class Collect(cst.CSTVisitor):
        def visit_Global(self, node: cst.Global) -> None:
            found.update(n.name.value for n in node.names)

    function.visit(Collect())
    return found


def _locals(function: cst.FunctionDef, guard: cst.If) -> set[str]:
    """The route's parameters and the names it assigns outside the guard."""
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    names = {p.name.value for p in every}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    for stmt in function.body.body:
        if stmt is not guard:
            names |= _assigned(stmt)
    return names


def _assigned(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class Collect(cst.CSTVisitor):
        def visit_AssignTarget(self, target: cst.AssignTarget) -> None:
            if isinstance(target.target, cst.Name):
                found.add(target.target.value)

        def visit_AnnAssign(self, assign: cst.AnnAssign) -> None:
            if isinstance(assign.target, cst.Name):
                found.add(assign.target.value)

        def visit_AsName(self, alias: cst.AsName) -> None:
            if isinstance(alias.name, cst.Name):
                found.add(alias.name.value)

    node.visit(Collect())
    return found


def _stores_elsewhere(guard: cst.If) -> bool:
    """The guard stores into module state by subscript or attribute (`state["m"] = ...`)."""
    found = False

    class Collect(cst.CSTVisitor):
        def visit_AssignTarget(self, target: cst.AssignTarget) -> None:
            nonlocal found
            found = found or isinstance(target.target, cst.Subscript | cst.Attribute)

    guard.visit(Collect())
    return found


def _has(node: cst.CSTNode, kinds: tuple[type[cst.CSTNode], ...]) -> bool:
    found = False

    class Collect(cst.CSTVisitor):
        def on_visit(self, child: cst.CSTNode) -> bool:
            nonlocal found
            found = found or isinstance(child, kinds)
            return not isinstance(child, cst.FunctionDef | cst.Lambda)

    node.visit(Collect())
    return found


def _free(module: cst.Module, base: str) -> str:
    taken = set(re.findall(r"\b\w+\b", module.code))
    for suffix in ("", *(f"_{n}" for n in range(2, 20))):
        if base + suffix not in taken:
            return base + suffix
    raise Refused(f"too many `{base}` names already")


# -- start-up ------------------------------------------------------------------------------
def _at_startup(
    workspace: Workspace, path: str, call: str, is_async: bool
) -> tuple[cst.Module, str]:
    """The app's module with `call` run at start-up, and where, in words."""
    parsed = Parsed(workspace, path)
    module = parsed.module
    found = _app_in(module)
    if found is None:
        raise Refused(f"{path} does not make exactly one app")
    app, kind, app_call = found
    statement = cst.parse_statement(f"{'await ' if is_async else ''}{call}  # {MARK}\n")
    if kind == "flask":
        if is_async:
            raise Refused("the initializer is async: a Flask module cannot await it at import")
        return _at_import(module, statement, call), "at import, as the server loads the app"
    keywords = {a.keyword.value: a for a in app_call.args if a.keyword is not None}
    if "lifespan" in keywords:
        value = keywords["lifespan"].value
        target = _function(module, value.value) if isinstance(value, cst.Name) else None
        if target is None or len(_yields(target)) != 1:
            raise Refused("the app's lifespan is not a function of this module with one yield")
        return _before_yield(
            module, target, statement, call
        ), f"in the lifespan `{target.name.value}`"
    if "on_startup" in keywords and isinstance(keywords["on_startup"].value, cst.List):
        return _on_startup(module, keywords["on_startup"].value, call), "in `on_startup`"
    handler = _startup_handler(module, app)
    if handler is not None:
        if is_async and not isinstance(handler.asynchronous, cst.Asynchronous):
            raise Refused("the start-up handler is sync and the initializer async")
        return _appended(module, handler, statement, call), f"in `{handler.name.value}`"
    if "on_shutdown" in keywords or f"{app}.on_event(" in module.code:
        raise Refused("the app has shutdown handlers a new lifespan would silence")
    return _new_lifespan(module, app_call, call, is_async), "in a new lifespan"


def _function(module: cst.Module, name: str) -> cst.FunctionDef | None:
    return next(
        (s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == name), None
    )


def _present(module: cst.Module, node: cst.CSTNode, call: str) -> bool:
    """Whether `node` already runs `call` as a statement (a second run adds nothing)."""
    wanted = re.compile(rf"^\s*(await\s+)?{re.escape(call)}\s*(#.*)?$", re.M)
    return bool(wanted.search(module.code_for_node(node)))


def _at_import(module: cst.Module, statement: cst.BaseStatement, call: str) -> cst.Module:
    body = list(module.body)
    if any(_present(module, s, call) for s in body if isinstance(s, cst.SimpleStatementLine)):
        return module
    at = next(
        (
            i
            for i, s in enumerate(body)
            if isinstance(s, cst.If) and "__main__" in code_of(module, s.test)
        ),
        len(body),
    )
    spaced = statement.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
    return module.with_changes(body=[*body[:at], spaced, *body[at:]])


def _before_yield(
    module: cst.Module, function: cst.FunctionDef, statement: cst.BaseStatement, call: str
) -> cst.Module:
    if _present(module, function, call):
        return module
    return _swap(module, function, before_yield(function, statement))


def _appended(
    module: cst.Module, function: cst.FunctionDef, statement: cst.BaseStatement, call: str
) -> cst.Module:
    if _present(module, function, call):
        return module
    block = function.body
    assert isinstance(block, cst.IndentedBlock)
    new = function.with_changes(body=block.with_changes(body=[*block.body, statement]))
    return _swap(module, function, new)


def _swap(module: cst.Module, old: cst.CSTNode, new: cst.CSTNode) -> cst.Module:
    return replace_nodes(module, {old: new})


def _on_startup(module: cst.Module, handlers: cst.List, call: str) -> cst.Module:
    reference = call.removesuffix("()")
    if any(code_of(module, e.value) == reference for e in handlers.elements):
        return module
    elements = list(handlers.elements)
    if elements:
        elements[-1] = elements[-1].with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
    elements.append(cst.Element(cst.parse_expression(reference)))
    return _swap(module, handlers, handlers.with_changes(elements=elements))


def _startup_handler(module: cst.Module, app: str) -> cst.FunctionDef | None:
    for stmt in module.body:
        if not isinstance(stmt, cst.FunctionDef):
            continue
        for decorator in stmt.decorators:
            text = code_of(module, decorator.decorator).replace("'", '"')
            if text.startswith(f'{app}.on_event("startup"'):
                return stmt
    return None


def _new_lifespan(module: cst.Module, app_call: cst.Call, call: str, is_async: bool) -> cst.Module:
    names = {s.name.value for s in module.body if isinstance(s, cst.FunctionDef)}
    name = next(n for n in ("_lifespan", "_lifespan_2", "_lifespan_3") if n not in names)
    text = _NEW_LIFESPAN.format(name=name, call=f"{'await ' if is_async else ''}{call}  # {MARK}")
    lifespan = cst.parse_statement(text).with_changes(
        leading_lines=[cst.EmptyLine(), cst.EmptyLine()]
    )
    kwarg = cst.Arg(
        cst.Name(name),
        keyword=cst.Name("lifespan"),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    at = next(
        i
        for i, s in enumerate(module.body)
        if isinstance(s, cst.SimpleStatementLine)
        and any(isinstance(x, cst.Assign) and x.value is app_call for x in s.body)
    )
    body = list(replace_nodes(module, {app_call: with_arg(app_call, kwarg)}).body)
    new_app = body[at]
    spaced = [cst.EmptyLine(), cst.EmptyLine()]
    body[at : at + 1] = [
        lifespan,
        new_app.with_changes(leading_lines=spaced),
    ]
    return with_imports(module.with_changes(body=body), [("contextlib", None)])


FIXER = LoadAtStartup()
