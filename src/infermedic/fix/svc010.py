"""SVC010: add a `/ready` endpoint that answers 503 until the model is loaded.

The route goes into the file the finding names, on the app (or router, or blueprint) made
there: `@app.get("/ready")` for FastAPI, `app.add_route("/ready", ready)` for Starlette,
`@app.route("/ready")` for Flask. It is placed at the end of the module (before an
`if __name__ == "__main__":` block). Readiness is gated on the object that holds the model,
found in that module: a module-level model (`model = joblib.load(...)`), a global set at
start-up (`model = None` … `global model`), a state dict entry (`state["model"] = ...`) or an
attribute of `app.state` (FastAPI, Starlette). When no single holder is found the fix is
refused: a readiness check that does not look at the model would answer 200 too early.
"""

from __future__ import annotations

import re

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.pyedit import code_of, dotted, finding_site, with_imports
from infermedic.model import Finding

_MODEL_NAME = re.compile(r"model|pipeline|estimator|classifier|regressor|predictor|session", re.I)
_LOADER = re.compile(
    r"(^|\.)(load|loads|load_model|from_pretrained|InferenceSession|pipeline|Booster|"
    r"SentenceTransformer|YOLO|train_model|build_model|fit)$"
)
_KINDS = {
    "FastAPI": "fastapi",
    "APIRouter": "fastapi",
    "Starlette": "starlette",
    "Router": "starlette",
    "Flask": "flask",
    "Blueprint": "flask",
}
_DOC = "Readiness (`infermedic fix` SVC010): 503 until the model is loaded."

_FASTAPI = '''@{app}.get("/ready")
async def {name}({params}) -> JSONResponse:
    """{doc}"""
    loaded = {gate}
    return JSONResponse({{"ready": loaded}}, status_code=200 if loaded else 503)
'''
_STARLETTE = '''async def {name}(request):
    """{doc}"""
    loaded = {gate}
    return JSONResponse({{"ready": loaded}}, status_code=200 if loaded else 503)
'''
_FLASK = '''@{app}.route("/ready")
def {name}():
    """{doc}"""
    loaded = {gate}
    return {{"ready": loaded}}, 200 if loaded else 503
'''


class AddReadiness:
    code = "SVC010"
    title = "add /ready, 503 until the model is loaded"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        path, parsed, _line = finding_site(finding, workspace)
        module = parsed.module
        app, kind = _app(module, path)
        gate, needs_request = _gate(module, kind)
        name = _free(module, ("ready", "readiness", "ready_probe"))
        text = {"fastapi": _FASTAPI, "starlette": _STARLETTE, "flask": _FLASK}[kind].format(
            app=app,
            name=name,
            doc=_DOC,
            gate=gate,
            params="request: Request" if needs_request else "",
        )
        statements = list(cst.parse_module(text).body)
        if kind == "starlette":
            statements.append(cst.parse_statement(f'{app}.add_route("/ready", {name})\n'))
        statements = [
            s.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()]) if i == 0 else s
            for i, s in enumerate(statements)
        ]
        body = list(module.body)
        at = next((i for i, s in enumerate(body) if _is_main_guard(module, s)), len(body))
        new = module.with_changes(body=[*body[:at], *statements, *body[at:]])
        imports: list[tuple[str, str | None]] = []
        if kind == "fastapi":
            imports.append(("fastapi.responses", "JSONResponse"))
            if needs_request:
                imports.append(("fastapi", "Request"))
        elif kind == "starlette":
            imports.append(("starlette.responses", "JSONResponse"))
        workspace.write(path, with_imports(new, imports).code)
        return Change(
            code=self.code,
            path=path,
            summary=f"added `GET /ready` on `{app}`: 503 until `{gate}`",
            review=f"{path}: `/ready` answers 200 once `{gate}`; if the service warms the "
            "model up (a first prediction) after loading it, set the holder only after the "
            "warm-up, and point the readiness probe at /ready (liveness stays on /health)",
            where=slug(path, "ready"),
            finding=finding,
        )


def _app(module: cst.Module, path: str) -> tuple[str, str]:
    """The name of the app (router, blueprint) made in the module, and its framework."""
    found: list[tuple[str, str]] = []
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, cst.Assign | cst.AnnAssign) or small.value is None:
                continue
            value = small.value
            if not isinstance(value, cst.Call):
                continue
            kind = _KINDS.get((dotted(value.func) or "").rsplit(".", 1)[-1])
            targets = (
                [t.target for t in small.targets]
                if isinstance(small, cst.Assign)
                else [small.target]
            )
            if kind is not None:
                found.extend((t.value, kind) for t in targets if isinstance(t, cst.Name))
    if len(found) != 1:
        what = "no app" if not found else f"{len(found)} apps or routers"
        raise Refused(f"{path} makes {what} (FastAPI, Starlette, Flask) to add /ready to")
    return found[0]


def _gate(module: cst.Module, kind: str) -> tuple[str, bool]:
    """The expression that is true once the model is loaded; and whether it reads the
    request (`request.app.state`)."""
    globals_set: set[str] = set()
    candidates: dict[str, tuple[str, bool]] = {}  # holder name -> (gate, needs request)

    class Collect(cst.CSTVisitor):
        def visit_Global(self, node: cst.Global) -> None:
            globals_set.update(n.name.value for n in node.names)

        def visit_Assign(self, node: cst.Assign) -> None:
            for target in node.targets:
                _candidate(target.target, node.value)

    def _candidate(target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
            key = target.slice[0].slice if len(target.slice) == 1 else None
            if isinstance(key, cst.Index) and isinstance(key.value, cst.SimpleString):
                literal = key.value.evaluated_value
                if isinstance(literal, str) and _MODEL_NAME.search(literal):
                    candidates[literal] = (f"{key.value.value} in {target.value.value}", False)
        elif isinstance(target, cst.Attribute) and kind != "flask":
            holder = dotted(target.value) or ""
            if holder.endswith("app.state") and _MODEL_NAME.search(target.attr.value):
                attr = target.attr.value
                gate = f'getattr(request.app.state, "{attr}", None) is not None'
                candidates[attr] = (gate, True)

    module.visit(Collect())
    for stmt in module.body:  # module-level models, or globals a start-up hook sets
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, cst.Assign | cst.AnnAssign) or small.value is None:
                continue
            targets = (
                [t.target for t in small.targets]
                if isinstance(small, cst.Assign)
                else [small.target]
            )
            for target in targets:
                if not isinstance(target, cst.Name) or not _MODEL_NAME.search(target.value):
                    continue
                value = small.value
                loaded = isinstance(value, cst.Call) and _LOADER.search(dotted(value.func) or "")
                later = target.value in globals_set
                if loaded or later:
                    candidates[target.value] = (f"{target.value} is not None", False)
    if len(candidates) != 1:
        names = ", ".join(sorted(candidates)) or "none found"
        raise Refused(
            f"cannot tell which object holds the model ({names}); add /ready by hand, "
            "answering 503 until it is loaded"
        )
    return next(iter(candidates.values()))


def _free(module: cst.Module, names: tuple[str, ...]) -> str:
    taken = set(re.findall(r"\b\w+\b", module.code))
    for name in names:
        if name not in taken:
            return name
    raise Refused("the names `ready` and `readiness` are already taken in this module")


def _is_main_guard(module: cst.Module, stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.If) and "__main__" in code_of(module, stmt.test)


FIXER = AddReadiness()
