"""SVC002: load the model once, not on every request.

In a route of a FastAPI app made in the same file, the load moves into the app's lifespan
and the model onto `app.state` (`fix.lifespan`). Elsewhere (Flask, a router in another
module, a dependency function, `on_event` handlers), the per-request load call
(`joblib.load(MODEL_PATH)`) becomes a call of a module-level load-once function with no
parameters (`_cached_joblib_load()`), defined just above the function that loaded per
request, whose body makes the original call once under a double-checked lock:
concurrent first requests (a sync route in the thread pool, a threaded WSGI server) wait
for the one load instead of each loading (`functools.lru_cache` is not a lock: every
caller that misses runs the function). Having no parameters, the function never hashes
the arguments (a dict or a DataFrame would fail there). Refused when the arguments depend
on the request or on the route's local variables (a cache keyed by request data is a model
registry, not a mechanical fix). XPL001 (an explainer built per request) is the same fix.

The `@functools.lru_cache(maxsize=1)` form earlier versions wrote runs once per process
only where requests do not overlap; the audit reads it as fixed (a cached function), so a
run over such code changes nothing; a fix of the same call in that file replaces it with
the locked form.
"""

from __future__ import annotations

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.lifespan import NotApplicable, hoist
from infermedic.fix.pyedit import (
    Parsed,
    code_of,
    dotted,
    replace_nodes,
    the_call,
    top_level_index,
    variable_names,
    with_imports,
)
from infermedic.model import Finding

_WRAPPER = '''{name}_lock = threading.Lock()
{name}_result = []  # filled once, under the lock


def {name}():
    """Runs once: concurrent first requests wait on the lock for that one call, and every
    request reuses its result (`infermedic fix` {code})."""
    if not {name}_result:
        with {name}_lock:
            if not {name}_result:  # another request made it while this one waited
                {name}_result.append({call})
    return {name}_result[0]
'''
# the form earlier versions wrote: run once per process only when requests do not overlap
_OLD_WRAPPER = '''@functools.lru_cache(maxsize=1)
def {name}():
    """Runs once; every request reuses the result (`infermedic fix` {code})."""
    return {call}
'''


class LoadOnce:
    def __init__(self, code: str, title: str) -> None:
        self.code = code
        self.title = title

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        path, parsed, line, call = the_call(finding, workspace, "loads the model")
        callee = dotted(call.func)
        if callee is None:
            raise Refused(f"the loader `{code_of(parsed.module, call.func)}` is not a plain name")
        function = parsed.enclosing_function(call)
        if function is None:
            raise Refused("the load is not inside a function")
        local = _local_names(function)
        used = {n.value for arg in call.args for n in variable_names(arg.value)}
        original = call
        if used & local:
            # `model = state["model"]` then `Explainer(model.predict, ...)`: the local is
            # only an alias of module state, so the call reads it directly and runs once
            call = _through_aliases(parsed, function, call, local)
        if self.code == "SVC002" and call is original:
            try:
                module, attr, imports = hoist(parsed, function, call, callee)
            except NotApplicable as exc:
                why = str(exc)
            else:
                workspace.write(path, with_imports(module, imports).code)
                return Change(
                    code=self.code,
                    path=path,
                    summary=f"`{callee}(...)` in `{function.name.value}` now runs once, in the "
                    f"app's lifespan, onto `app.state.{attr}`",
                    review=f"{path}: `{callee}` now runs at start-up, before the app takes "
                    f"traffic; routes read `request.app.state.{attr}` (reload by restarting)",
                    where=slug(path, function.name.value),
                    finding=finding,
                    details={"form": "lifespan", "attribute": attr, "loader": callee},
                )
        else:
            why = ""
        call_text = code_of(parsed.module, call)
        name, present = _free_name(parsed.module, "_cached_" + callee.replace(".", "_"), call_text)
        new = replace_nodes(
            parsed.module,
            {original: cst.Call(func=cst.Name(name), lpar=call.lpar, rpar=call.rpar)},
        )
        if present != "locked":
            wrapper = cst.parse_module(_WRAPPER.format(name=name, code=self.code, call=call_text))
            added = [
                s.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()]) if i == 0 else s
                for i, s in enumerate(wrapper.body)
            ]
            statements = list(new.body)
            if present == "old":  # the lru_cache form of an earlier fix: the locked one instead
                top = next(
                    i
                    for i, s in enumerate(statements)
                    if isinstance(s, cst.FunctionDef) and s.name.value == name
                )
                statements[top : top + 1] = added
            else:
                top = top_level_index(parsed, function, "the top-level statement around the load")
                statements[top:top] = added
            new = new.with_changes(body=statements)
        new = with_imports(new, [("threading", None)])
        workspace.write(path, new.code)
        return Change(
            code=self.code,
            path=path,
            summary=f"`{callee}(...)` in `{function.name.value}` now runs once, through `{name}()`",
            review=f"{path}: `{callee}` runs on the first request and its result is reused; "
            "concurrent first requests wait for that one call; warm it at start-up (lifespan) "
            f"so the first request does not pay, and reload by restarting (or `{name}"
            "_result.clear()`)"
            + (f" [no lifespan form: {why}]" if why else "")
            + (
                " [the cached call reads the route's aliases of module state directly: "
                "they are read at the first request, as before]"
                if call is not original
                else ""
            ),
            where=slug(path, function.name.value),
            finding=finding,
            details={"form": "cache", "loader": callee, "cache": name, "result": f"{name}_result"},
        )


def _through_aliases(
    parsed: Parsed, function: cst.FunctionDef, call: cst.Call, local: set[str]
) -> cst.Call:
    """`call` with each route-local name in its arguments replaced by the one expression
    assigned to it: a plain read of module state (`model = state["model"]`,
    `bg = registry.background`), assigned once, at the top of the route, before the call.
    Refused when any local is a parameter, is assigned more than once or conditionally, or
    is computed (a call, arithmetic): then it may depend on the request."""
    params = {p.name.value for p in _params(function)}
    values = _single_assignments(function)
    swaps: dict[cst.CSTNode, cst.CSTNode] = {}
    for arg in call.args:
        for name in variable_names(arg.value):
            if name.value not in local:
                continue
            value = None if name.value in params else values.get(name.value)
            if value is None or not _plain_read(value, local, values, params, depth=3):
                raise Refused(f"the call depends on values of the request or route ({name.value})")
            swaps[name] = _resolved(value, values)
    rewritten = call.visit(_Swap(swaps))
    assert isinstance(rewritten, cst.Call)
    return rewritten


class _Swap(cst.CSTTransformer):
    def __init__(self, swaps: dict[cst.CSTNode, cst.CSTNode]) -> None:
        super().__init__()
        self.swaps = swaps

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode:
        return self.swaps.get(original_node, updated_node)


def _params(function: cst.FunctionDef) -> list[cst.Param]:
    params = function.params
    stars = [s for s in (params.star_arg, params.star_kwarg) if isinstance(s, cst.Param)]
    return [*params.posonly_params, *params.params, *params.kwonly_params, *stars]


def _single_assignments(function: cst.FunctionDef) -> dict[str, cst.BaseExpression]:
    """Names assigned exactly once in `function`, by a plain `name = value` statement at
    the top level of its body (not in a branch or loop)."""
    counts: dict[str, int] = {}

    class Count(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            for n in variable_names(node.target):
                counts[n.value] = counts.get(n.value, 0) + 1

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            for n in variable_names(node.target):
                counts[n.value] = counts.get(n.value, 0) + 1

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            for n in variable_names(node.target):
                counts[n.value] = counts.get(n.value, 0) + 2

        def visit_For(self, node: cst.For) -> None:
            for n in variable_names(node.target):
                counts[n.value] = counts.get(n.value, 0) + 2

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            for n in variable_names(node.target):
                counts[n.value] = counts.get(n.value, 0) + 2

    function.body.visit(Count())
    found: dict[str, cst.BaseExpression] = {}
    for stmt in function.body.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if (
                isinstance(small, cst.Assign)
                and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
            ):
                found[small.targets[0].target.value] = small.value
    return {name: value for name, value in found.items() if counts.get(name) == 1}


def _plain_read(
    node: cst.BaseExpression,
    local: set[str],
    values: dict[str, cst.BaseExpression],
    params: set[str],
    *,
    depth: int,
) -> bool:
    """A name, attribute or constant-key subscript of module state (or of another alias)."""
    if isinstance(node, cst.Name):
        if node.value not in local:
            return True
        value = values.get(node.value)
        return (
            depth > 0
            and node.value not in params
            and value is not None
            and _plain_read(value, local, values, params, depth=depth - 1)
        )
    if isinstance(node, cst.Attribute):
        return _plain_read(node.value, local, values, params, depth=depth)
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        index = node.slice[0].slice
        return (
            isinstance(index, cst.Index)
            and isinstance(index.value, cst.SimpleString | cst.Integer)
            and _plain_read(node.value, local, values, params, depth=depth)
        )
    return False


def _resolved(
    node: cst.BaseExpression, values: dict[str, cst.BaseExpression]
) -> cst.BaseExpression:
    """`node` with aliases of aliases replaced too (checked by `_plain_read` first)."""
    if isinstance(node, cst.Name) and node.value in values:
        return _resolved(values[node.value], values)
    if isinstance(node, cst.Attribute):
        return node.with_changes(value=_resolved(node.value, values))
    if isinstance(node, cst.Subscript):
        return node.with_changes(value=_resolved(node.value, values))
    return node


def _free_name(module: cst.Module, base: str, call: str) -> tuple[str, str]:
    """`base`, or `base_2`…: a module-level name for the load-once function of `call`, and
    what the module has under it already: `locked` (this fix's function for the same call,
    from a fix of another call site: reused), `old` (the lru_cache form of an earlier
    version, for the same call: replaced), or `free`. Its `_lock` and `_result` names must
    be free too."""
    functions = {
        s.name.value: module.code_for_node(s.with_changes(leading_lines=[]))
        for s in module.body
        if isinstance(s, cst.FunctionDef)
    }
    taken = set(functions) | _assigned_at_top(module)
    for suffix in ("", *(f"_{n}" for n in range(2, 100))):
        name = base + suffix
        names = {name, f"{name}_lock", f"{name}_result"}
        if name in functions:
            for form, text in (("locked", _WRAPPER), ("old", _OLD_WRAPPER)):
                wrapper = cst.parse_module(text.format(name=name, code="{code}", call=call))
                made = wrapper.body[-1].with_changes(leading_lines=[])
                ours = functions[name].replace("`infermedic fix` SVC002", "`infermedic fix` {code}")
                ours = ours.replace("`infermedic fix` XPL001", "`infermedic fix` {code}")
                if ours == wrapper.code_for_node(made):
                    return name, form
        elif not names & taken:
            return name, "free"
    raise Refused(f"too many `{base}` functions already")


def _assigned_at_top(module: cst.Module) -> set[str]:
    """The names module-level statements assign."""
    found: set[str] = set()
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    found.update(n.value for t in small.targets for n in variable_names(t.target))
                elif isinstance(small, cst.AnnAssign):
                    found.update(n.value for n in variable_names(small.target))
    return found


def _local_names(function: cst.FunctionDef) -> set[str]:
    """Parameters and names assigned inside `function`."""
    names = {p.name.value for p in function.params.params}
    names |= {p.name.value for p in function.params.kwonly_params}
    names |= {p.name.value for p in function.params.posonly_params}
    for star in (function.params.star_arg, function.params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)

    class Assigned(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            names.update(n.value for n in variable_names(node.target))

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            names.update(n.value for n in variable_names(node.target))

        def visit_For(self, node: cst.For) -> None:
            names.update(n.value for n in variable_names(node.target))

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            names.update(n.value for n in variable_names(node.target))

    function.body.visit(Assigned())
    return names


FIXER = LoadOnce("SVC002", "load the model once (module-level cache)")
EXPLAINER_FIXER = LoadOnce("XPL001", "build the explainer once (module-level cache)")
