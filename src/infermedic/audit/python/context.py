"""Per-file view of Python source: its tree, lines, import aliases and qualified names."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field

from infermedic.model import Evidence, EvidenceKind, Location


def module_name_for(relpath: str) -> str:
    """`app/main.py` → `app.main`; `app/__init__.py` → `app`."""
    parts = relpath[:-3].split("/") if relpath.endswith(".py") else relpath.split("/")
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(p for p in parts if p) or "__main__"


def decode_source(data: bytes) -> str:
    """Decode Python source as the interpreter would (PEP 263 cookie, else UTF-8).

    Raises `SyntaxError` or `UnicodeDecodeError` for text that is not valid source.
    """
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    text = data.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


@dataclass(eq=False)
class FileContext:
    """One parsed Python file and what rules need to name things in it."""

    relpath: str
    module: str
    tree: ast.Module
    lines: list[str]
    is_package: bool = False
    # local alias → qualified name: `np` → `numpy`, `load` → `joblib.load`
    imports: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, relpath: str, data: bytes) -> FileContext:
        """Parse `data`; raises `SyntaxError`, `ValueError` (NUL bytes) or `UnicodeDecodeError`."""
        text = decode_source(data)
        tree = ast.parse(text, filename=relpath)
        context = cls(
            relpath=relpath,
            module=module_name_for(relpath),
            tree=tree,
            lines=text.splitlines(),
            is_package=relpath.endswith("__init__.py"),
        )
        return context

    def add_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.imports[alias.asname] = alias.name
                else:
                    head = alias.name.split(".", 1)[0]
                    self.imports[head] = head
            return
        base = node.module or ""
        if node.level:
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            if node.level > 1:
                package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        for alias in node.names:
            if alias.name == "*":
                # `from flask import *`: the framework names it exports become known here
                for name in _STAR_EXPORTS.get(base, ()):
                    self.imports.setdefault(name, f"{base}.{name}")
                continue
            self.imports[alias.asname or alias.name] = (
                f"{base}.{alias.name}" if base else alias.name
            )

    def qualified_name(self, node: ast.expr) -> str | None:
        """The dotted name of `node` through the import map, or None when its root is local.

        `jl.load` → `joblib.load` after `import joblib as jl`; builtins keep their own name.
        """
        parts: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            return None
        root = self.imports.get(current.id)
        if root is None:
            if current.id in _BUILTINS and not parts:
                return current.id
            return None
        return ".".join([root, *reversed(parts)])

    def line_text(self, line: int) -> str:
        return self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""

    def location(self, node: ast.AST) -> Location:
        line = getattr(node, "lineno", None)
        column = getattr(node, "col_offset", None)
        return Location(
            path=self.relpath,
            line=line,
            column=None if column is None else column + 1,
            end_line=getattr(node, "end_lineno", None),
        )

    def source_evidence(self, node: ast.AST) -> Evidence:
        """The line a finding is about, as evidence: `app/main.py:42` and its stripped text."""
        line = getattr(node, "lineno", 0)
        return Evidence(
            kind=EvidenceKind.SOURCE,
            action=f"{self.relpath}:{line}",
            observed=self.line_text(line),
        )


def dotted(node: ast.expr) -> str:
    """The source-like dotted text of a name/attribute/call chain (`self.model.predict`).

    A loop, not recursion: a 350-deep `a.b.c...` chain must not hit the recursion limit.
    """
    parts: list[str] = []
    current: ast.expr = node
    while True:
        if isinstance(current, ast.Name):
            parts.append(current.id)
            break
        if isinstance(current, ast.Attribute):
            parts.append(f".{current.attr}")
            current = current.value
        elif isinstance(current, ast.Call):
            parts.append("()")
            current = current.func
        elif isinstance(current, ast.Subscript):
            key = current.slice
            parts.append(f"[{repr(key.value) if isinstance(key, ast.Constant) else '…'}]")
            current = current.value
        else:
            parts.append("…")
            break
    return "".join(reversed(parts))


# `ast.unparse` recurses several frames per level; deeper expressions are shown shortened.
UNPARSE_DEPTH = 100
UNPARSE_CHARS = 160


def nesting_depth(node: ast.AST, stop: int | None = None) -> int:
    """How deep the tree under `node` goes (1 for a leaf), counted without recursion; stops
    counting once past `stop`. Every parsed file goes through it, so it reads `_fields`
    directly: `ast.iter_child_nodes` (two generators per node) took twice as long."""
    node_type = ast.AST
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(node, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        current, level = pop()
        if level > deepest:
            deepest = level
            if stop is not None and deepest > stop:
                return deepest
        level += 1
        for name in current._fields:
            value = getattr(current, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, node_type):
                        push((item, level))
            elif isinstance(value, node_type):
                push((value, level))
    return deepest


def unparse(node: ast.AST) -> str:
    """`ast.unparse`, safe on any depth: a deeply nested expression is shown as its dotted
    chain (or `…`), shortened, instead of raising `RecursionError`."""
    if nesting_depth(node, stop=UNPARSE_DEPTH) <= UNPARSE_DEPTH:
        return ast.unparse(node)
    text = dotted(node) if isinstance(node, ast.expr) else "…"
    if len(text) > UNPARSE_CHARS:
        text = f"{text[: UNPARSE_CHARS // 2]}…{text[-UNPARSE_CHARS // 2 :]}"
    return text


def call_text(node: ast.Call) -> str:
    """How a call reads in a chain: `pipeline.predict_proba` (a leading `self.` dropped)."""
    text = dotted(node.func)
    return text[5:] if text.startswith("self.") else text


def keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def has_kwargs_splat(node: ast.Call) -> bool:
    return any(k.arg is None for k in node.keywords)


_BUILTINS = frozenset({"open", "print", "input", "eval", "exec", "getattr", "setattr"})

# What `from <module> import *` brings in, for the modules whose names matter to the audit
# (apps, request objects, routers, model loaders). Other star imports stay unknown.
_WEB_EXPORTS = (
    "request", "jsonify", "abort", "Response", "Blueprint", "make_response", "current_app",
    "send_file", "render_template", "redirect", "url_for", "g", "session",
)  # fmt: skip
_STAR_EXPORTS: dict[str, tuple[str, ...]] = {
    "flask": ("Flask", *_WEB_EXPORTS),
    "quart": ("Quart", *_WEB_EXPORTS),
    "fastapi": (
        "FastAPI", "APIRouter", "Request", "Depends", "HTTPException", "Body", "Query",
        "UploadFile", "File", "Form", "BackgroundTasks", "Response", "WebSocket",
    ),
    "sanic": ("Sanic", "Blueprint", "json", "text", "response"),
    "keras.models": ("load_model", "Sequential", "Model"),
    "tensorflow.keras.models": ("load_model", "Sequential", "Model"),
}  # fmt: skip
