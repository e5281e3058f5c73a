"""SVC002: load the model once, not on every request.

The per-request load call (`joblib.load(MODEL_PATH)`) becomes a call of a module-level
`@functools.lru_cache` wrapper (`_cached_joblib_load(MODEL_PATH)`), defined just above the
function that loaded per request: the first request loads, every later one reuses the
object. Refused when the load's arguments depend on the request (a cache keyed by request
data is a model registry, not a mechanical fix).
"""

from __future__ import annotations

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.pyedit import Parsed, code_of, dotted, replace_nodes, with_imports
from infermedic.model import Finding

_WRAPPER = '''@functools.lru_cache(maxsize=None)
def {name}(*args, **kwargs):
    """`{callee}` once per argument set: requests reuse the loaded model."""
    return {callee}(*args, **kwargs)
'''


class LoadOnce:
    code = "SVC002"
    title = "load the model once (module-level cache)"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        loc = finding.location
        if loc.path is None or loc.line is None:
            raise Refused("the finding has no file position")
        parsed = Parsed(workspace, loc.path)
        line = workspace.line(loc.path, loc.line)
        calls = parsed.calls_at(line, (loc.column - 1) if loc.column else None)
        if len(calls) != 1:
            raise Refused(f"cannot tell which call at {loc.path}:{line} loads the model")
        call = calls[0]
        callee = dotted(call.func)
        if callee is None:
            raise Refused(f"the loader `{code_of(parsed.module, call.func)}` is not a plain name")
        function = parsed.enclosing_function(call)
        if function is None:
            raise Refused("the load is not inside a function")
        local = _local_names(function)
        used = {n.value for arg in call.args for n in _names(arg.value)}
        if used & local:
            names = ", ".join(sorted(used & local))
            raise Refused(f"the load depends on values of the request or route ({names})")
        name = "_cached_" + callee.replace(".", "_")
        new = replace_nodes(parsed.module, {call: call.with_changes(func=cst.Name(name))})
        defined = {s.name.value for s in new.body if isinstance(s, cst.FunctionDef)}
        if name not in defined:
            top = _top_level_index(parsed, function)
            wrapper = cst.parse_statement(_WRAPPER.format(name=name, callee=callee))
            wrapper = wrapper.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
            body = list(new.body)
            new = new.with_changes(body=[*body[:top], wrapper, *body[top:]])
        new = with_imports(new, [("functools", None)])
        workspace.write(loc.path, new.code)
        return Change(
            code=self.code,
            path=loc.path,
            summary=f"`{callee}(...)` in `{function.name.value}` now runs once, through `{name}`",
            review=f"{loc.path}: the model is loaded by the first request and then reused; "
            "warm it at start-up (lifespan) so the first request does not pay, and reload "
            f"by restarting (or `{name}.cache_clear()`)",
            where=slug(loc.path, function.name.value),
            finding=finding,
        )


def _names(node: cst.CSTNode) -> list[cst.Name]:
    found: list[cst.Name] = []

    class Collect(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            found.append(name)

        def visit_Attribute(self, attribute: cst.Attribute) -> bool:
            attribute.value.visit(self)
            return False  # `x.attr`: only `x` is a variable

    node.visit(Collect())
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
            names.update(n.value for n in _names(node.target))

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            names.update(n.value for n in _names(node.target))

        def visit_For(self, node: cst.For) -> None:
            names.update(n.value for n in _names(node.target))

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            names.update(n.value for n in _names(node.target))

    function.body.visit(Assigned())
    return names


def _top_level_index(parsed: Parsed, node: cst.CSTNode) -> int:
    current: cst.CSTNode | None = node
    while current is not None and parsed.parent(current) is not parsed.module:
        current = parsed.parent(current)
    for index, stmt in enumerate(parsed.module.body):
        if stmt is current:
            return index
    raise Refused("cannot find the top-level statement around the load")


FIXER = LoadOnce()
