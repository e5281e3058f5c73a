"""SVC010: the model holder when it lives in another module than the app.

`from .model_store import MODEL`, `from ranker import model`, a router module that imports
the module that loads the model: the repo modules the app's module imports (and those
they import, three levels down) are read for module-level holders:

- a variable assigned a model load at import (`RANKER = Ranker(joblib.load(ARTIFACT))`, a
  known model loader anywhere in the value), or
- a variable set to None at import and assigned by a function of that module (`global
  MODEL` in `load()`), which the app's module calls at start-up (in its lifespan, a
  start-up handler, or at module level): the warm-up mark goes after that call;
- an attribute of a module-level instance of a class of that module, set to a model load
  in `__init__` (at import) or in a method the app's module calls at start-up
  (`registry = ModelRegistry()`; `registry.load()` in the lifespan; `registry.model`).

The gate reads the variable through its module (`_ready_model_store.MODEL is not None`),
not through a name imported from it, which would keep the value it had at import. Refused
when no holder or several are found (the names are said), or when the holder is filled
only lazily (on a first request): a readiness gate on it would never open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from infermedic.audit.python import known_calls as kc
from infermedic.fix.base import Refused, Workspace
from infermedic.fix.pyedit import code_of, dotted
from infermedic.fix.regression import import_name

_DEPTH = 3
_MODULES = 60


@dataclass(frozen=True, kw_only=True, slots=True)
class Imported:
    """A module-level model holder of another repo module."""

    relpath: str  # the holder's file
    module: str  # its dotted name, imported from the app's import root
    name: str  # the variable
    alias: str  # the name the app's module imports that module under
    # the app module's statements that fill it at start-up (empty: filled at import)
    loads: tuple[cst.SimpleStatementLine, ...]
    spellings: tuple[str, ...]  # how the app's module names it (`model_store.MODEL`)


def imported_holder(workspace: Workspace, path: str, module: cst.Module, why: str) -> Imported:
    """The one holder in the repo modules `path` imports; `why` is the refusal to repeat
    when there is none."""
    root = workspace.root
    import_root, _ = import_name(root, path)
    found: list[tuple[str, str, str]] = []  # (relpath, variable, filler function or "")
    seen = {path}
    frontier = [(path, module)]
    for _ in range(_DEPTH):
        reached: list[tuple[str, cst.Module]] = []
        for relpath, parsed in frontier:
            for target in _imports(root, import_root, relpath, parsed):
                if target in seen or len(seen) >= _MODULES:
                    continue
                seen.add(target)
                try:
                    other = cst.parse_module(workspace.read(target))
                except (Refused, cst.ParserSyntaxError):
                    continue
                found.extend((target, name, filler) for name, filler in _holders(other))
                reached.append((target, other))
        frontier = reached
    if not found:
        raise Refused(why)
    if len(found) > 1:
        names = ", ".join(f"{rel}:{name}" for rel, name, _ in found)
        raise Refused(
            f"cannot tell which object holds the model ({names}); add /ready by hand, "
            "answering 503 until it is loaded"
        )
    relpath, name, filler = found[0]
    folder, dotted_name = import_name(root, relpath)
    if folder != import_root:
        raise Refused(f"{relpath} (the model's holder) and {path} import from different folders")
    alias = "_ready_" + dotted_name.rsplit(".", 1)[-1]
    loads: tuple[cst.SimpleStatementLine, ...] = ()
    if filler:
        loads = _start_up_calls(module, dotted_name, filler)
        if not loads:
            raise Refused(
                f"`{dotted_name}.{name}` is filled by `{filler}()`, which {path} does not call "
                "at start-up: load the model at start-up first (a gate on a model loaded by "
                "the first request would never open)"
            )
    return Imported(
        relpath=relpath,
        module=dotted_name,
        name=name,
        alias=alias,
        loads=loads,
        spellings=tuple(sorted(_local_names(module, dotted_name, name))),
    )


def _imports(root: Path, import_root: str, relpath: str, module: cst.Module) -> list[str]:
    """The repo files the module's import statements name (module-level statements)."""
    base = Path(import_root)
    package = Path(relpath).parent
    found: list[str] = []

    def add(parts: list[str], folder: Path) -> None:
        files = (folder.joinpath(*parts).with_suffix(".py"), folder.joinpath(*parts, "__init__.py"))
        for candidate in files:
            if parts and (root / candidate).is_file():
                found.append(candidate.as_posix().removeprefix("./"))
                return

    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    add(code_of(module, alias.name).split("."), base)
            elif isinstance(small, cst.ImportFrom):
                dots = len(small.relative)
                folder = base
                if dots:
                    folder = package
                    for _ in range(dots - 1):
                        folder = folder.parent
                parts = code_of(module, small.module).split(".") if small.module else []
                add(parts, folder)
                if not isinstance(small.names, cst.ImportStar):  # `from pkg import module`
                    for alias in small.names:
                        add([*parts, code_of(module, alias.name)], folder)
    return found


def _holders(module: cst.Module) -> list[tuple[str, str]]:
    """Module-level holders: (variable, "") when loaded at import, (variable, function) when
    set to None at import and assigned in `function` under `global`."""
    at_import: list[str] = []
    empty: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign | cst.AnnAssign) and small.value is not None:
                targets = (
                    [t.target for t in small.targets]
                    if isinstance(small, cst.Assign)
                    else [small.target]
                )
                names = [t.value for t in targets if isinstance(t, cst.Name)]
                if _loads_model(small.value):
                    at_import.extend(names)
                elif isinstance(small.value, cst.Name) and small.value.value == "None":
                    empty.update(names)
    found = [(name, "") for name in at_import]
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef):
            found.extend((name, stmt.name.value) for name in sorted(_filled_in(stmt, empty)))
    return found + _attribute_holders(module)


def _attribute_holders(module: cst.Module) -> list[tuple[str, str]]:
    """`registry.model` of a module-level instance of a class of this module whose method
    sets `self.model` to a model load: ("registry.model", "") when `__init__` does,
    ("registry.model", "registry.load") when the method `load` does."""
    classes = {s.name.value: s for s in module.body if isinstance(s, cst.ClassDef)}
    found: list[tuple[str, str]] = []
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not (isinstance(small, cst.Assign) and isinstance(small.value, cst.Call)):
                continue
            cls = classes.get(dotted(small.value.func) or "")
            names = [t.target.value for t in small.targets if isinstance(t.target, cst.Name)]
            if cls is None or len(names) != 1:
                continue
            for method in cls.body.body:
                if isinstance(method, cst.FunctionDef):
                    filler = "" if method.name.value == "__init__" else method.name.value
                    found.extend(
                        (f"{names[0]}.{attr}", f"{names[0]}.{filler}" if filler else "")
                        for attr in sorted(_self_loads(method))
                    )
    return found


def _self_loads(method: cst.FunctionDef) -> set[str]:
    """The attributes `self.X = <a model load>` in `method`."""
    found: set[str] = set()

    class Visit(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if _loads_model(node.value):
                for target in node.targets:
                    t = target.target
                    if isinstance(t, cst.Attribute) and dotted(t.value) == "self":
                        found.add(t.attr.value)

    method.visit(Visit())
    return found


def _filled_in(function: cst.FunctionDef, empty: set[str]) -> set[str]:
    """The module variables of `empty` that `function` assigns a model load, under `global`."""
    declared: set[str] = set()
    filled: set[str] = set()

    class Visit(cst.CSTVisitor):
        def visit_Global(self, node: cst.Global) -> None:
            declared.update(n.name.value for n in node.names)

        def visit_Assign(self, node: cst.Assign) -> None:
            if _loads_model(node.value):
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        filled.add(target.target.value)

    function.visit(Visit())
    return filled & declared & empty


def _loads_model(value: cst.BaseExpression) -> bool:
    """Whether `value` calls a known model loader somewhere (`Ranker(joblib.load(path))`)."""
    found = False

    class Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            nonlocal found
            name = dotted(node.func) or ""
            found = found or kc.is_model_loader(name)

    value.visit(Calls())
    return found


def _start_up_calls(
    module: cst.Module, dotted_name: str, filler: str
) -> tuple[cst.SimpleStatementLine, ...]:
    """The statements of the app's module that call `filler` of `dotted_name` at start-up:
    at module level, in a lifespan (an async generator function) before its `yield`, or in a
    function registered for start-up (`on_event("startup")`, `before_serving`...)."""
    names = _local_names(module, dotted_name, filler)
    found: list[cst.SimpleStatementLine] = []

    def scan(body: Sequence[cst.BaseStatement]) -> None:
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                if any(
                    isinstance(s, cst.Expr) and isinstance(s.value, cst.Yield) for s in stmt.body
                ):
                    # after the lifespan's yield: shut-down
                    return
                if _calls(module, stmt, names):
                    found.append(stmt)
            elif isinstance(stmt, cst.With | cst.Try | cst.If) and isinstance(
                stmt.body, cst.IndentedBlock
            ):
                scan(stmt.body.body)

    scan(list(module.body))
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and _at_start_up(module, stmt):
            scan(list(stmt.body.body) if isinstance(stmt.body, cst.IndentedBlock) else [])
    return tuple(found)


def _local_names(module: cst.Module, dotted_name: str, filler: str) -> set[str]:
    """How the app's module spells `filler` (`load`, `registry.load`, `MODEL`) of the
    module `dotted_name`: `load`, `model_store.load`, `registry.load`..."""
    names: set[str] = set()
    last = dotted_name.rsplit(".", 1)[-1]
    head, _, rest = filler.partition(".")
    rest = "." + rest if rest else ""
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                source = code_of(module, small.module) if small.module else ""
                for alias in small.names:
                    imported = code_of(module, alias.name)
                    bound = code_of(module, alias.asname.name) if alias.asname else imported
                    if imported == head and source.rsplit(".", 1)[-1] == last:
                        names.add(bound + rest)
                    elif imported == last:
                        names.add(f"{bound}.{filler}")
            elif isinstance(small, cst.Import):
                for alias in small.names:
                    if code_of(module, alias.name) == dotted_name:
                        bound = code_of(module, alias.asname.name) if alias.asname else dotted_name
                        names.add(f"{bound}.{filler}")
    return names


def _calls(module: cst.Module, stmt: cst.SimpleStatementLine, names: set[str]) -> bool:
    found = False

    class Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            nonlocal found
            found = found or code_of(module, node.func) in names

    stmt.visit(Calls())
    return found


def _at_start_up(module: cst.Module, function: cst.FunctionDef) -> bool:
    """A lifespan (an async `@asynccontextmanager` function, or one named `*lifespan*`) or a
    start-up handler (`@app.on_event("startup")`, `@app.before_serving`)."""
    for decorator in function.decorators:
        text = code_of(module, decorator.decorator)
        if "startup" in text or "before_serving" in text or "before_first_request" in text:
            return True
    if function.asynchronous is None:
        return False
    contexts = [
        code_of(module, d.decorator).endswith("asynccontextmanager") for d in function.decorators
    ]
    return any(contexts) or "lifespan" in function.name.value


def _is_yield(small: cst.BaseSmallStatement) -> bool:
    return isinstance(small, cst.Expr) and isinstance(small.value, cst.Yield)
