"""SVC008: run the torch forward pass under `torch.inference_mode()`.

The statement holding the forward call is wrapped in `with torch.inference_mode():` (a
context manager, not a decorator: decorating an `async def` would only cover creating the
coroutine). Refused when the statement awaits (the mode is thread-local and must not span a
suspension) or when the call sits in a compound statement's header.
"""

from __future__ import annotations

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.pyedit import Parsed, code_of, replace_nodes, the_call, with_imports
from infermedic.model import Finding


class InferenceMode:
    code = "SVC008"
    title = "wrap the forward pass in torch.inference_mode()"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        path, parsed, line, call = the_call(finding, workspace, "is the forward pass")
        statement = _statement(parsed, call)
        if "await" in code_of(parsed.module, statement).split():
            raise Refused("the statement awaits; inference mode must not span a suspension")
        function = parsed.enclosing_function(call)
        wrapped = cst.With(
            items=[cst.WithItem(item=cst.parse_expression("torch.inference_mode()"))],
            body=cst.IndentedBlock(body=[statement.with_changes(leading_lines=[])]),
            leading_lines=statement.leading_lines,
        )
        new = replace_nodes(parsed.module, {statement: wrapped})
        new = with_imports(new, [("torch", None)])
        workspace.write(path, new.code)
        where = function.name.value if function is not None else str(line)
        return Change(
            code=self.code,
            path=path,
            summary=f"the forward pass at {path}:{line} runs under `torch.inference_mode()`",
            review=f"{path}: tensors made under inference mode cannot be used for autograd "
            "later; also call `model.eval()` once at load",
            where=slug(path, where),
            finding=finding,
        )


def _statement(parsed: Parsed, node: cst.CSTNode) -> cst.SimpleStatementLine:
    current = parsed.parent(node)
    while current is not None:
        if isinstance(current, cst.SimpleStatementLine):
            if not isinstance(parsed.parent(current), cst.IndentedBlock):
                raise Refused("the forward pass shares a line with a compound statement")
            return current
        if isinstance(current, cst.BaseCompoundStatement):
            raise Refused("the forward pass is in a compound statement's header")
        current = parsed.parent(current)
    raise Refused("cannot find the statement around the forward pass")


FIXER = InferenceMode()
