"""SVC010: add a `/ready` endpoint that answers 503 until the model is loaded and warmed up.

The route goes into the file the finding names, on the app (or router, or blueprint) made
there: `@app.get("/ready")` for FastAPI, `app.add_route("/ready", ready)` for Starlette,
`@app.route("/ready")` for Flask. It is placed at the end of the module (before an
`if __name__ == "__main__":` block). Readiness is gated on the object that holds the model,
found in that module: a module-level model (`model = joblib.load(...)`), a global set at
start-up (`model = None` … `global model`), a state dict entry (`state["model"] = ...`) or an
attribute of `app.state` (FastAPI, Starlette). When the module holds none, the repo modules
it imports are searched (`fix.holders`: `from .model_store import MODEL`, a registry
object's attribute, a getter's global), and the gate reads the holder through its module.
When no single holder is found the fix is refused: a readiness check that does not look at
the model would answer 200 too early.

Warm-up: a module-level `_WARMED_UP = threading.Event()` joins the gate. It is set right
after the statement that loads the model, or, when the same block then warms the model up
(calls it, or calls something named `warm*`), after the last such statement: `/ready`
answers 200 only once the first real prediction will not pay for lazy initialisation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.holders import imported_holder
from infermedic.fix.pyedit import (
    after_imports,
    code_of,
    dotted,
    finding_site,
    with_imports,
)
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
_DOC = "Readiness (`infermedic fix` SVC010): 503 until the model is loaded and warmed up."
WARMED = "_WARMED_UP"
_WARMED_LINE = f"{WARMED} = threading.Event()  # set once the model is loaded and warmed up\n"
_WARMED_SET = f"{WARMED}.set()  # /ready answers 200 from here on (`infermedic fix` SVC010)\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class Holder:
    """Where the model lives: `kind` is `global` (a module variable), `key` (an entry of a
    module-level dict) or `state` (an attribute of `app.state`)."""

    kind: str
    name: str  # the variable, the dict's key, or the attribute
    container: str = ""  # the dict's name (kind `key`)
    gate: str  # the expression true once it is loaded
    needs_request: bool
    text: str  # the holder as the code writes it: `model`, `state["model"]`, `app.state.model`
    loads: tuple[cst.SimpleStatementLine, ...]  # the statements that store the model
    spellings: tuple[str, ...] = ()  # other names of it in the module (`store.MODEL`)


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
        try:
            holder = _holder(module, kind)
        except Refused as refused:
            if "cannot tell which object holds the model (none found)" not in str(refused):
                raise
            holder = _other_module(workspace, path, module, str(refused))
        gate, needs_request = f"{holder.gate} and {WARMED}.is_set()", holder.needs_request
        name = _free(module, ("ready", "readiness", "ready_probe"))
        module, warmed_after = _mark_warmed(module, holder)
        text = {"fastapi": _FASTAPI, "starlette": _STARLETTE, "flask": _FLASK}[kind].format(
            app=app,
            name=name,
            doc=_DOC,
            gate=gate,
            params="request: Request" if needs_request else "",
        )
        statements = list(cst.parse_module(text).body)
        if kind == "starlette":
            added = cst.parse_statement(f'{app}.add_route("/ready", {name})\n')
            statements.append(added.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()]))
        statements = [
            s.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()]) if i == 0 else s
            for i, s in enumerate(statements)
        ]
        body = list(module.body)
        at = next((i for i, s in enumerate(body) if _is_main_guard(module, s)), len(body))
        new = module.with_changes(body=[*body[:at], *statements, *body[at:]])
        imports: list[tuple[str, str | None]] = [("threading", None)]
        if holder.kind == "imported":
            new = _with_module_import(new, holder.container, holder.text.split(".")[0])
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
            summary=f"added `GET /ready` on `{app}`: 503 until `{holder.gate}` and the "
            f"warm-up is done (`{WARMED}`, set after {warmed_after})",
            review=f"{path}: `/ready` answers 200 once `{holder.gate}` and `{WARMED}` is set "
            f"(after {warmed_after}); "
            + (
                ""
                if "warm-up" in warmed_after
                else "the model is not warmed up: add a warm-up prediction just before "
                f"`{WARMED}.set()`; "
            )
            + (
                f"`{holder.text}` is read through its module, so /ready sees it change; "
                if holder.kind == "imported"
                else ""
            )
            + "point the readiness probe at /ready (liveness stays on /health)",
            where=slug(path, "ready"),
            finding=finding,
            details={
                "ready": "/ready",
                "holder": holder.kind,
                "name": holder.name,
                "container": holder.container,
                "app": app,
                "framework": kind,
                "warmed": WARMED,
            },
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


def _holder(module: cst.Module, kind: str) -> Holder:
    """The one object that holds the model, the expression true once it is loaded, and the
    statements that store it."""
    globals_set: set[str] = set()
    candidates: dict[str, Holder] = {}  # holder name -> holder
    stores: dict[str, list[cst.SimpleStatementLine]] = {}
    current: list[cst.SimpleStatementLine] = []
    functions: list[cst.FunctionDef] = []

    class Collect(cst.CSTVisitor):
        def visit_Global(self, node: cst.Global) -> None:
            globals_set.update(n.name.value for n in node.names)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            functions.append(node)

        def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
            functions.pop()

        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            current.append(node)

        def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine) -> None:
            current.pop()

        def visit_Assign(self, node: cst.Assign) -> None:
            for target in node.targets:
                found = _candidate(target.target)
                if found is not None and current and not _is_none(node.value):
                    stores.setdefault(found, []).append(current[-1])

    def _candidate(target: cst.BaseExpression) -> str | None:
        text = code_of(module, target)
        if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
            key = target.slice[0].slice if len(target.slice) == 1 else None
            if isinstance(key, cst.Index) and isinstance(key.value, cst.SimpleString):
                literal = key.value.evaluated_value
                if isinstance(literal, str) and _MODEL_NAME.search(literal):
                    candidates[literal] = Holder(
                        kind="key",
                        name=literal,
                        container=target.value.value,
                        gate=f"{key.value.value} in {target.value.value}",
                        needs_request=False,
                        text=text,
                        loads=(),
                    )
                    return literal
        elif isinstance(target, cst.Attribute) and kind != "flask":
            holder = dotted(target.value) or ""
            if holder.endswith("app.state") and _MODEL_NAME.search(target.attr.value):
                attr = target.attr.value
                gate = f'getattr(request.app.state, "{attr}", None) is not None'
                candidates[attr] = Holder(
                    kind="state", name=attr, gate=gate, needs_request=True, text=text, loads=()
                )
                return attr
        elif isinstance(target, cst.Name) and (not functions or target.value in globals_set):
            return target.value  # a module variable (kept only if it holds a model, below)
        return None

    module.visit(Collect())
    for stmt in _module_level(module):  # module-level models, or globals set at start-up
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
                    candidates[target.value] = Holder(
                        kind="global",
                        name=target.value,
                        gate=f"{target.value} is not None",
                        needs_request=False,
                        text=target.value,
                        loads=(),
                    )
                    if isinstance(small, cst.AnnAssign) and not _is_none(value):
                        stores.setdefault(target.value, []).append(stmt)
    if len(candidates) != 1:
        names = ", ".join(sorted(candidates)) or "none found"
        raise Refused(
            f"cannot tell which object holds the model ({names}); add /ready by hand, "
            "answering 503 until it is loaded"
        )
    name, holder = next(iter(candidates.items()))
    loads = tuple(dict.fromkeys(stores.get(name, [])))
    if not loads:
        raise Refused(f"cannot find where `{holder.text}` is loaded, to mark the warm-up done")
    return Holder(
        kind=holder.kind,
        name=holder.name,
        container=holder.container,
        gate=holder.gate,
        needs_request=holder.needs_request,
        text=holder.text,
        loads=loads,
    )


def _other_module(workspace: Workspace, path: str, module: cst.Module, why: str) -> Holder:
    """The holder in a repo module the app's module imports (`fix.holders`)."""
    found = imported_holder(workspace, path, module, why)
    text = f"{found.alias}.{found.name}"
    owner, _, attr = text.rpartition(".")
    # an attribute may be set only by the load (`self.model = ...` in `load()`)
    gate = f'getattr({owner}, "{attr}", None) is not None' if "." in found.name else None
    return Holder(
        kind="imported",
        name=found.name,
        container=found.module,
        gate=gate or f"{text} is not None",
        needs_request=False,
        text=text,
        loads=found.loads,
        spellings=found.spellings,
    )


def _with_module_import(module: cst.Module, dotted_name: str, alias: str) -> cst.Module:
    """`module` with `from package import name as alias` (`import name as alias`)."""
    package, _, name = dotted_name.rpartition(".")
    context = CodemodContext()
    if package:
        AddImportsVisitor.add_needed_import(context, package, name, alias)
    else:
        AddImportsVisitor.add_needed_import(context, name, None, alias)
    return AddImportsVisitor(context).transform_module(module)


def _module_level(module: cst.Module) -> list[cst.SimpleStatementLine]:
    """The module's own statements, also those inside `try:`, `if`, `with` blocks at module
    level (`try: model = load(...)`), not those of functions and classes."""
    found: list[cst.SimpleStatementLine] = []

    class Walk(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> bool:
            found.append(node)
            return False

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

    module.visit(Walk())
    return found


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _mark_warmed(module: cst.Module, holder: Holder) -> tuple[cst.Module, str]:
    """`module` with `_WARMED_UP` defined and set after each load (after the warm-up that
    follows it in the same block, if any); and what it is set after, in words."""
    after: dict[cst.CSTNode, cst.CSTNode] = {}  # statement -> the statement to set it after
    said = "the load (no warm-up found)"

    def scan(body: Sequence[cst.BaseStatement]) -> None:
        nonlocal said
        for index, stmt in enumerate(body):
            if stmt not in holder.loads:
                continue
            last: cst.BaseStatement = stmt
            for following in body[index + 1 :]:
                if _stops(module, following):
                    break
                if _warms(module, following, holder):
                    last = following
                    first = code_of(module, following).strip().splitlines()[0]
                    said = f"the warm-up `{first.split('  #', 1)[0]}`"
            after[last] = last

    class Blocks(cst.CSTVisitor):
        def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
            scan(node.body)

    scan(module.body)
    module.visit(Blocks())
    if len(after) != len(holder.loads):
        raise Refused(f"cannot place the warm-up mark after each load of `{holder.text}`")

    def inserted(
        original: Sequence[cst.BaseStatement], updated: Sequence[cst.BaseStatement]
    ) -> list[cst.BaseStatement]:
        body = list(updated)
        for i in reversed([i for i, s in enumerate(original) if s in after]):
            body.insert(i + 1, cst.parse_statement(_WARMED_SET))
        return body

    class Insert(cst.CSTTransformer):
        def leave_IndentedBlock(
            self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
        ) -> cst.IndentedBlock:
            return updated_node.with_changes(body=inserted(original_node.body, updated_node.body))

        def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
            return updated_node.with_changes(body=inserted(original_node.body, updated_node.body))

    marked = module.visit(Insert())
    assert isinstance(marked, cst.Module)
    line = cst.parse_statement(_WARMED_LINE).with_changes(leading_lines=[cst.EmptyLine()])
    if holder.kind == "imported" and not holder.loads:  # loaded when its module is imported
        said = f"the import of `{holder.container}`, which loads it (no warm-up found)"
        return after_imports(marked, [line, cst.parse_statement(_WARMED_SET)]), said
    return after_imports(marked, [line]), said


def _stops(module: cst.Module, stmt: cst.BaseStatement) -> bool:
    """A statement after which the block no longer prepares the model (a yield, a return,
    a definition)."""
    if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
        return True
    if isinstance(stmt, cst.SimpleStatementLine):
        return any(
            isinstance(s, cst.Return)
            or (isinstance(s, cst.Expr) and isinstance(s.value, cst.Yield))
            for s in stmt.body
        )
    return False


def _warms(module: cst.Module, stmt: cst.BaseStatement, holder: Holder) -> bool:
    """Whether `stmt` runs the model (a call on or with the holder) or a `warm*` function."""
    found = False
    texts = (holder.text, *holder.spellings)

    class Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            nonlocal found
            func = code_of(module, node.func)
            name = func.rsplit(".", 1)[-1].lower()
            args = [code_of(module, a.value) for a in node.args]
            for text in texts:
                if func == text or func.startswith(text + ".") or "warm" in name or text in args:
                    found = True

    stmt.visit(Calls())
    return found


def _free(module: cst.Module, names: tuple[str, ...]) -> str:
    taken = set(re.findall(r"\b\w+\b", module.code))
    for name in names:
        if name not in taken:
            return name
    raise Refused("the names `ready` and `readiness` are already taken in this module")


def _is_main_guard(module: cst.Module, stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.If) and "__main__" in code_of(module, stmt.test)


FIXER = AddReadiness()
