"""Every module imports on its own in a fresh interpreter, and `src/` has no import cycle.

The cycle check walks the sources with `ast` (hand-written: it is a few lines, needs no
dependency, and it must see the imports inside functions that hide a cycle from a plain
import, which import-time checks never exercise). Imports under `if TYPE_CHECKING:` are not
edges: they never run. An import of `a.b.c` is an edge to `a.b.c` only; what a package's
`__init__` pulls in is its own edges.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "infermedic"


def module_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        if "templates" in path.relative_to(SRC / PACKAGE).parts:
            continue  # demo templates are written out as services, not imported
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below `node`, leaving out the bodies of `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child):
            for branch in child.orelse:
                yield branch
                yield from _nodes(branch)
            continue
        yield child
        yield from _nodes(child)


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    for node in _nodes(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set(_imports(tree, module, path.name == "__init__.py")) & set(files)
        # `from pkg import sub` names both; keep the most specific module it reaches
        graph[module] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)}
        graph[module].discard(module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_src_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_cycle_hidden_in_a_function() -> None:
    tree = ast.parse("def f():\n    from infermedic.b import x\n")
    assert set(_imports(tree, "infermedic.a", False)) == {"infermedic.b", "infermedic.b.x"}
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


# Third-party libraries the package imports: loaded once in the parent before forking, so
# each child pays only for infermedic's own modules (the order this test is about).
PRELOAD = (
    "numpy", "pandas", "scipy.stats", "sklearn", "duckdb", "pyarrow", "pyarrow.parquet",
    "httpx", "aiohttp", "fastapi", "pydantic", "rich", "click", "jinja2", "yaml", "libcst",
)  # fmt: skip
OPTIONAL = (
    "torch", "xgboost", "lightgbm", "pyspark", "mlflow", "onnxmltools", "pynvml", "skops",
    "onnxscript",
)  # fmt: skip


def _imported_alone(modules: list[str], path: Path) -> list[str]:
    """The modules of `modules` (found on `path`) that fail to import first and alone. One
    interpreter with none of them loaded forks a child per module (an interpreter start per
    module took minutes on two cores); a missing optional extra is allowed by name."""
    script = f"""
import importlib, os, sys, traceback
for name in {PRELOAD!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing = (getattr(exc, "name", "") or "").split(".")[0]
            if missing not in {OPTIONAL!r}:
                traceback.print_exc()
                os._exit(1)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        failed.append(name)
print("FAILED", *failed)
"""
    done = subprocess.run(
        [sys.executable, "-c", script, *modules],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin"},
        timeout=600,
        check=False,
    )
    assert done.returncode == 0 and "FAILED" in done.stdout, done.stderr[-2000:]
    failed = done.stdout.split("FAILED", 1)[1].split()
    assert set(failed) <= set(modules), done.stdout
    return failed


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    """Each infermedic module first, alone: an import order that only works because another
    module happened to load first fails here."""
    # `__main__` modules run the CLI when imported; that is their job
    modules = [m for m in module_files() if not m.endswith("__main__")]
    assert _imported_alone(modules, SRC) == []


def test_the_fresh_import_check_sees_a_module_that_fails_alone(tmp_path: Path) -> None:
    """The check can fail: a module that imports only after another has run is caught."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("import sys\nsys.modules['pkg'].READY = True\n")
    (package / "b.py").write_text("from pkg import READY\n")
    assert _imported_alone(["pkg.a", "pkg.b"], tmp_path) == ["pkg.b"]


# The profile package runs in two processes. The worker loads and calls the user's model (a
# pickle is code: it must never be loaded by the parent); the parent supervises it, reads its
# JSON lines and judges. Shared: settings, format detection, the worker protocol, the typed
# results it carries (results, live_results), py-spy, and reading an MLflow model's
# files without loading it (mlflow_model, also used by the registry).
PROFILE_WORKER = {"worker"}  # the worker/ subpackage, everything run in the worker process
PROFILE_PARENT = {
    "api",
    "engine",
    "runner",
    "supervise",
    "assemble",
    "context",
    "cores",
    "rules",
    "live",
    "live_verdicts",
}


def _profile_side(module: str) -> str | None:
    prefix = f"{PACKAGE}.profile."
    if not module.startswith(prefix):
        return None
    head = module[len(prefix) :].split(".")[0]
    return "worker" if head in PROFILE_WORKER else "parent" if head in PROFILE_PARENT else "shared"


def test_profile_worker_and_parent_code_stay_apart() -> None:
    graph = import_graph()
    crossing = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if {_profile_side(module), _profile_side(target)} == {"worker", "parent"}
        or (_profile_side(module) == "shared" and _profile_side(target) in {"worker", "parent"})
    ]
    assert crossing == []
    named = PROFILE_WORKER | PROFILE_PARENT
    unnamed = {
        m.split(".")[2]
        for m in module_files()
        if m.startswith(f"{PACKAGE}.profile.") and m.split(".")[2] not in named
    }
    # every other module is shared on purpose; a new one must be placed in a set above
    assert unnamed == {
        "config",
        "detect",
        "attribution",
        "stacks",
        "pyspy",
        "protocol",
        "results",
        "live_results",
        "mlflow_model",
    }
