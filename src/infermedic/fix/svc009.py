"""SVC009: debug mode off.

`App(debug=True)` loses its `debug` argument (every framework defaults to off);
`app.debug = True` and `app.config["DEBUG"] = True` become `False`.
"""

from __future__ import annotations

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.pyedit import code_of, finding_site, replace_nodes, without_arg
from infermedic.model import Finding


class DebugOff:
    code = "SVC009"
    title = "turn debug mode off"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        if not (finding.location.path or "").endswith(".py"):
            raise Refused("debug mode is on in deployment configuration: remove it by hand")
        path, parsed, line = finding_site(finding, workspace)
        replacements: dict[cst.CSTNode, cst.CSTNode] = {}
        for call in parsed.calls_at(line, None):
            debug = [a for a in call.args if a.keyword is not None and a.keyword.value == "debug"]
            if debug and isinstance(debug[0].value, cst.Name) and debug[0].value.value == "True":
                replacements[call] = without_arg(call, debug[0])
                what = f"`{code_of(parsed.module, call.func)}(...)` no longer passes `debug=True`"
        for node in parsed.nodes(cst.Assign):
            assert isinstance(node, cst.Assign)
            if parsed.start(node)[0] != line:
                continue
            if isinstance(node.value, cst.Name) and node.value.value == "True":
                replacements[node] = node.with_changes(value=cst.Name("False"))
                target = code_of(parsed.module, node.targets[0].target)
                what = f"`{target} = False`"
        if len(replacements) != 1:
            raise Refused(f"cannot tell which statement at {path}:{line} turns debug on")
        workspace.write(path, replace_nodes(parsed.module, replacements).code)
        return Change(
            code=self.code,
            path=path,
            summary=what,
            review=f"{path}:{line}: debug is off; if you need it locally, read it from an "
            "environment variable that is unset in production",
            where=slug(path),
            finding=finding,
        )


FIXER = DebugOff()
