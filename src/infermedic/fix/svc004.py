"""SVC004: give an outbound HTTP call on the request path an explicit timeout.

The call gets `timeout=10` (or its `timeout=None` becomes 10): ten seconds bounds how long a
hung dependency holds a worker; the review note asks for the route's real latency budget.
"""

from __future__ import annotations

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.pyedit import code_of, replace_nodes, the_call, with_arg
from infermedic.model import Finding

TIMEOUT_S = "10"


class AddTimeout:
    code = "SVC004"
    title = "add an explicit timeout"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        if not (finding.location.path or "").endswith(".py"):
            # a container health check's `python -c` string (Dockerfile, compose file)
            raise Refused("the call is inside a health check command: add `timeout=` by hand")
        path, parsed, line, call = the_call(finding, workspace, "is the outbound call")
        if any(a.star for a in call.args):
            raise Refused("the call passes *args/**kwargs: its timeout may come from them")
        value = cst.Integer(TIMEOUT_S)
        given = [a for a in call.args if a.keyword is not None and a.keyword.value == "timeout"]
        if given:
            if not (isinstance(given[0].value, cst.Name) and given[0].value.value == "None"):
                raise Refused("the call already has a timeout")
            args = [a.with_changes(value=value) if a is given[0] else a for a in call.args]
            new_call = call.with_changes(args=args)
        else:
            timeout = cst.Arg(
                keyword=cst.Name("timeout"),
                value=value,
                equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""),
                    whitespace_after=cst.SimpleWhitespace(""),
                ),
            )
            new_call = with_arg(call, timeout)
        new = replace_nodes(parsed.module, {call: new_call})
        workspace.write(path, new.code)
        callee = code_of(parsed.module, call.func)
        return Change(
            code=self.code,
            path=path,
            summary=f"`{callee}(...)` now passes `timeout={TIMEOUT_S}`",
            review=f"{path}:{line}: size the {TIMEOUT_S} s timeout to the route's latency "
            "budget, and decide what the route answers when it expires",
            where=slug(path),
            finding=finding,
        )


FIXER = AddTimeout()
