"""libcst helpers shared by the Python fixes: parse, find a node by position, add imports.

libcst keeps every comment, blank line and quote style, so a fix's diff shows only what the
fix changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import MetadataWrapper, ParentNodeProvider, PositionProvider

from infermedic.fix.base import Refused, Workspace
from infermedic.model import Finding


class Parsed:
    """A parsed file with node positions and parents."""

    def __init__(self, workspace: Workspace, relpath: str) -> None:
        text = workspace.read(relpath)
        try:
            module = cst.parse_module(text)
        except cst.ParserSyntaxError as exc:
            raise Refused(f"{relpath} does not parse: {exc.message} (line {exc.raw_line})") from exc
        self.relpath = relpath
        self.wrapper = MetadataWrapper(module)
        self.module = self.wrapper.module
        self.positions = self.wrapper.resolve(PositionProvider)
        self.parents = self.wrapper.resolve(ParentNodeProvider)

    def start(self, node: cst.CSTNode) -> tuple[int, int]:
        """1-based line, 0-based column of `node`'s first character."""
        pos = self.positions[node].start
        return pos.line, pos.column

    def span(self, node: cst.CSTNode) -> tuple[int, int]:
        pos = self.positions[node]
        return pos.start.line, pos.end.line

    def nodes(self, kind: type[cst.CSTNode]) -> list[cst.CSTNode]:
        return [node for node in self.positions if isinstance(node, kind)]

    def calls_at(self, line: int, column: int | None) -> list[cst.Call]:
        """Calls starting at `line` (and 0-based `column` when given)."""
        found = [
            node
            for node in self.nodes(cst.Call)
            if isinstance(node, cst.Call)
            and self.start(node)[0] == line
            and (column is None or self.start(node)[1] == column)
        ]
        if column is not None and len(found) > 1:
            # `m.predict(x)[:, 1].tolist()`: every call of the chain starts at the same
            # place; the audit's position names the innermost one
            def end(node: cst.Call) -> tuple[int, int]:
                pos = self.positions[node].end
                return pos.line, pos.column

            first = min(end(node) for node in found)
            found = [node for node in found if end(node) == first]
        return found

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(node)

    def enclosing_function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        """The nearest function around `node`; refuses when a lambda, generator or class
        body sits between (an `await` cannot go there)."""
        current = self.parent(node)
        while current is not None:
            if isinstance(current, cst.FunctionDef):
                return current
            if isinstance(current, cst.Lambda):
                raise Refused("the call is inside a lambda, where `await` cannot go")
            if isinstance(current, cst.GeneratorExp):
                raise Refused(
                    "the call is inside a generator expression; `await` would turn it async"
                )
            if isinstance(current, cst.ClassDef):
                return None
            current = self.parent(current)
        return None

    def is_awaited(self, node: cst.CSTNode) -> bool:
        return isinstance(self.parent(node), cst.Await)


def finding_site(finding: Finding, workspace: Workspace) -> tuple[str, Parsed, int]:
    """The finding's file (parsed) and its line as it stands in the workspace now."""
    loc = finding.location
    if loc.path is None or loc.line is None:
        raise Refused("the finding has no file position")
    return loc.path, Parsed(workspace, loc.path), workspace.line(loc.path, loc.line)


def the_call(
    finding: Finding, workspace: Workspace, role: str
) -> tuple[str, Parsed, int, cst.Call]:
    """The one call the finding points at (its file, parse, current line and the call);
    refused when the line holds several candidates."""
    path, parsed, line = finding_site(finding, workspace)
    column = finding.location.column
    calls = parsed.calls_at(line, (column - 1) if column else None)
    if len(calls) != 1:
        raise Refused(f"cannot tell which call at {path}:{line} {role}")
    return path, parsed, line, calls[0]


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr.value}" if head is not None else None
    return None


def code_of(module: cst.Module, node: cst.CSTNode) -> str:
    return module.code_for_node(node)


def imported_modules(module: cst.Module) -> set[str]:
    """Every module named in an import statement anywhere in the file."""
    names: set[str] = set()

    class Collect(cst.CSTVisitor):
        def visit_Import(self, node: cst.Import) -> None:
            for alias in node.names:
                names.add(code_of(module, alias.name))

        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            if node.module is not None:
                names.add(code_of(module, node.module))

    module.visit(Collect())
    return names


def with_imports(module: cst.Module, imports: Sequence[tuple[str, str | None]]) -> cst.Module:
    """`module` with `from a import b` (or `import a` when b is None) added where missing."""
    context = CodemodContext()
    for mod, obj in imports:
        if obj is None:
            AddImportsVisitor.add_needed_import(context, mod)
        else:
            AddImportsVisitor.add_needed_import(context, mod, obj)
    return AddImportsVisitor(context).transform_module(module)


def after_imports(module: cst.Module, statements: Sequence[cst.BaseStatement]) -> cst.Module:
    """`module` with `statements` placed after its leading docstring and imports."""
    body = list(module.body)
    index = 0
    for position, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and all(
            isinstance(s, cst.Import | cst.ImportFrom)
            or (isinstance(s, cst.Expr) and isinstance(s.value, cst.SimpleString))
            for s in stmt.body
        ):
            index = position + 1
        else:
            break
    return module.with_changes(body=[*body[:index], *statements, *body[index:]])


def needs_parentheses(parsed: Parsed, node: cst.CSTNode) -> bool:
    """Whether `await <node>` must be parenthesised to keep its meaning where `node` sits."""
    parent = parsed.parent(node)
    if isinstance(parent, cst.Attribute | cst.Subscript):
        return parent.value is node
    if isinstance(parent, cst.Call):
        return parent.func is node
    if isinstance(parent, cst.BinaryOperation):
        return isinstance(parent.operator, cst.Power)
    return False


def replace_nodes(module: cst.Module, replacements: dict[cst.CSTNode, cst.CSTNode]) -> cst.Module:
    """`module` with each original node swapped for its replacement."""

    class Swap(cst.CSTTransformer):
        # returns a node, never a removal sentinel: narrower than the base signature
        def on_leave(  # type: ignore[override]
            self, original_node: cst.CSTNode, updated_node: cst.CSTNode
        ) -> cst.CSTNode:
            return replacements.get(original_node, updated_node)

    result = module.visit(Swap())
    assert isinstance(result, cst.Module)
    return result


def without_arg(call: cst.Call, arg: cst.Arg) -> cst.Call:
    """`call` without `arg`, keeping the layout (one line or one argument per line)."""
    args = list(call.args)
    index = args.index(arg)
    del args[index]
    if args and index == len(args):  # removed the last: its comma (or none) ends the list
        args[-1] = args[-1].with_changes(comma=arg.comma)
    return call.with_changes(args=args)


def with_arg(call: cst.Call, arg: cst.Arg) -> cst.Call:
    """`call` with `arg` appended, in the layout of the existing arguments."""
    args = list(call.args)
    if not args:
        return call.with_changes(args=[arg])
    last = args[-1]
    if isinstance(last.comma, cst.Comma):  # a trailing comma: one argument per line
        if len(args) >= 2 and isinstance(args[-2].comma, cst.Comma):
            between = args[-2].comma
        else:
            between = cst.Comma(whitespace_after=call.whitespace_before_args)
        args[-1] = last.with_changes(comma=between)
        args.append(arg.with_changes(comma=last.comma))
    else:
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        args.append(arg)
    return call.with_changes(args=args)


def variable_names(node: cst.CSTNode) -> list[cst.Name]:
    """The variables `node` reads or binds: every Name, but of `x.attr` only `x`."""
    found: list[cst.Name] = []

    class Collect(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            found.append(name)

        def visit_Attribute(self, attribute: cst.Attribute) -> bool:
            attribute.value.visit(self)
            return False  # `x.attr`: only `x` is a variable

    node.visit(Collect())
    return found


def top_level_index(parsed: Parsed, node: cst.CSTNode, what: str) -> int:
    """The index in the module's body of the top-level statement around `node`."""
    current: cst.CSTNode | None = node
    while current is not None and parsed.parent(current) is not parsed.module:
        current = parsed.parent(current)
    for index, stmt in enumerate(parsed.module.body):
        if stmt is current:
            return index
    raise Refused(f"cannot find {what}")


def before_yield(function: cst.FunctionDef, statement: cst.BaseStatement) -> cst.FunctionDef:
    """`function` (a lifespan) with `statement` just before its `yield`, in whichever block
    holds it; unchanged when the same statement already stands before that yield."""
    empty = cst.Module(body=[])
    text = empty.code_for_node(statement).strip()

    class Insert(cst.CSTTransformer):
        def leave_IndentedBlock(
            self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
        ) -> cst.IndentedBlock:
            body = list(updated_node.body)
            for index, stmt in enumerate(body):
                if isinstance(stmt, cst.SimpleStatementLine) and any(
                    isinstance(s, cst.Expr) and isinstance(s.value, cst.Yield) for s in stmt.body
                ):
                    if text in [empty.code_for_node(s).strip() for s in body[:index]]:
                        return updated_node
                    new = statement.with_changes(leading_lines=stmt.leading_lines)
                    moved = stmt.with_changes(leading_lines=[])
                    return updated_node.with_changes(
                        body=[*body[:index], new, moved, *body[index + 1 :]]
                    )
            return updated_node

    result = function.visit(Insert())
    assert isinstance(result, cst.FunctionDef)
    return result
