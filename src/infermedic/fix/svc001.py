"""SVC001: run the blocking model call in a thread, at the call in the async route.

When the model call is several calls down (`predict → score_customer → model.predict`), the
call wrapped is the route's own call (`score_customer(...)`): everything below it then runs
in the thread, and helpers shared with sync code keep their signatures. A FastAPI or
Starlette app gets `await run_in_threadpool(f, ...)` (Starlette's bounded pool, which the
framework already uses for `def` routes); any other async framework gets a module-level
bounded `ThreadPoolExecutor` and `loop.run_in_executor(_EXECUTOR, functools.partial(f, ...))`.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from infermedic.fix.base import (
    Change,
    Refused,
    Workspace,
    chain_evidence,
    route_label,
    slug,
)
from infermedic.fix.pyedit import (
    Parsed,
    after_imports,
    code_of,
    dotted,
    imported_modules,
    needs_parentheses,
    replace_nodes,
    with_imports,
)
from infermedic.model import Finding

EXECUTOR = "_EXECUTOR"
LOG_WRITER = "_PREDICTION_LOG"  # the SVC005 fix's background writer
# Bounded on purpose: one model call per core is the most a CPU-bound model can use, and
# a fixed bound keeps a burst of requests from starting a thread each.
EXECUTOR_LINE = f'{EXECUTOR} = ThreadPoolExecutor(max_workers=4, thread_name_prefix="model")\n'
EXECUTOR_COMMENT = "# bounded: model calls run off the event loop, at most four at a time"


class BlockingModelCall:
    """Wrap the route's blocking call; `to_thread` uses `asyncio.to_thread` (for I/O)."""

    def __init__(self, code: str, title: str, *, to_thread: bool = False) -> None:
        self.code = code
        self.title = title
        self.to_thread = to_thread

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        chain = chain_evidence(finding)
        if chain is None or len(chain[0]) <= 2:
            # the model call is in the route itself: wrap it where the audit found it
            relpath, line, column = _where(finding)
            parsed = Parsed(workspace, relpath)
            line = workspace.line(relpath, line)
            calls = parsed.calls_at(line, column)
            if len(calls) != 1:
                raise Refused(f"cannot tell which call at {relpath}:{line} is the model call")
            route = parsed.enclosing_function(calls[0])
            if route is None or route.asynchronous is None:
                raise Refused("the model call is not directly inside an async function")
            targets = calls
        else:
            steps, relpath, route_line = chain
            parsed = Parsed(workspace, relpath)
            route = _route(parsed, steps[0], workspace.line(relpath, route_line))
            try:
                targets = _calls_to(parsed, route, steps[1])
            except HandedToLogWriter as done:
                # the SVC005 fix moved the write to its background thread: off the loop too
                return done.change(finding, relpath, route, "off the event loop")
        style = "to_thread" if self.to_thread else _style(parsed.module)
        module = _wrap(parsed, targets, style)
        workspace.write(relpath, module.code)
        name = route.name.value
        callee = code_of(parsed.module, targets[0].func)
        how = {"to_thread": "asyncio.to_thread", "starlette": "run_in_threadpool"}.get(
            style, "loop.run_in_executor"
        )
        return Change(
            code=self.code,
            path=relpath,
            summary=f"in `{name}`, `{callee}(...)` now runs through `await {how}(...)`",
            review=(
                f"{relpath}: `{callee}` now runs in a worker thread; check that it does not "
                "touch event-loop objects or state that is not thread-safe"
            ),
            where=slug(relpath, name),
            finding=finding,
            details={
                "route": route_label(finding) or "",
                "module": relpath.removesuffix(".py").replace("/", ".").removesuffix(".__init__"),
                "callee": dotted(targets[0].func) or "",
                "style": style,
            },
        )


def _where(finding: Finding) -> tuple[str, int, int | None]:
    loc = finding.location
    if loc.path is None or loc.line is None:
        raise Refused("the finding has no file position")
    return loc.path, loc.line, (loc.column - 1) if loc.column else None


def _route(parsed: Parsed, name: str, line: int, *, need_async: bool = True) -> cst.FunctionDef:
    candidates = [
        node
        for node in parsed.nodes(cst.FunctionDef)
        if isinstance(node, cst.FunctionDef) and node.name.value == name
    ]
    around = [n for n in candidates if _covers(parsed, n, line)]
    chosen = around or candidates
    if len(chosen) != 1:
        raise Refused(f"found {len(chosen)} functions named `{name}` in {parsed.relpath}")
    if need_async and chosen[0].asynchronous is None:
        raise Refused(f"`{name}` in {parsed.relpath} is not async")
    return chosen[0]


def _covers(parsed: Parsed, node: cst.FunctionDef, line: int) -> bool:
    first, last = parsed.span(node)
    decorated = min([first, *(parsed.span(d)[0] for d in node.decorators)])
    return decorated <= line <= last


def _calls_to(parsed: Parsed, route: cst.FunctionDef, callee: str) -> list[cst.Call]:
    """The route's own (not awaited) calls of `callee`; refused when there are none."""
    last = callee.rsplit(".", 1)[-1]
    found: list[cst.Call] = []
    for node in parsed.nodes(cst.Call):
        assert isinstance(node, cst.Call)
        func = node.func
        if isinstance(func, cst.Attribute):
            name = dotted(func) or f"<expr>.{func.attr.value}"
        elif isinstance(func, cst.Name):
            name = func.value
        else:
            continue
        if name.rsplit(".", 1)[-1] != last:
            continue
        if parsed.is_awaited(node) or parsed.enclosing_function(node) is not route:
            continue
        found.append(node)
    texts = {code_of(parsed.module, node.func) for node in found}
    if len(texts) > 1:
        raise Refused(
            f"ambiguous: `{route.name.value}` calls {len(texts)} different `{last}` "
            f"({', '.join(sorted(texts))}); wrap the blocking one by hand"
        )
    if not found and _submitted(parsed, route, last):
        raise HandedToLogWriter(f"`{route.name.value}` already hands `{callee}` to {LOG_WRITER}")
    if not found:
        raise Refused(
            f"`{route.name.value}` in {parsed.relpath} has no direct call of `{callee}` to wrap"
        )
    for node in found:
        if any(arg.keyword is not None and arg.keyword.value == "func" for arg in node.args):
            raise Refused(f"`{callee}` takes a `func=` argument, which the thread helper shadows")
    return found


class HandedToLogWriter(Refused):  # noqa: N818 - an outcome, as Refused
    """The route already passes the call to the SVC005 fix's background writer."""

    def change(self, finding: Finding, path: str, route: cst.FunctionDef, what: str) -> Change:
        """The finding counts as fixed by that earlier edit; nothing more is changed."""
        return Change(
            code=finding.code,
            path=path,
            summary=f"{self}: {what} already (the SVC005 fix)",
            review=f"{path}: nothing more to change for this finding",
            where=slug(path, route.name.value),
            finding=finding,
        )


def _submitted(parsed: Parsed, route: cst.FunctionDef, last: str) -> bool:
    """Whether `route` hands a callable named `last` to `_PREDICTION_LOG.submit(...)`."""
    for node in parsed.nodes(cst.Call):
        assert isinstance(node, cst.Call)
        if dotted(node.func) != f"{LOG_WRITER}.submit" or not node.args:
            continue
        first = node.args[0].value
        name = first.attr.value if isinstance(first, cst.Attribute) else dotted(first)
        if name == last and parsed.enclosing_function(node) is route:
            return True
    return False


def _style(module: cst.Module) -> str:
    """`starlette` when the app already runs on Starlette's thread pool, else `executor`."""
    uses = any(name.split(".")[0] in {"fastapi", "starlette"} for name in imported_modules(module))
    return "starlette" if uses else "executor"


def _wrap(parsed: Parsed, targets: list[cst.Call], style: str) -> cst.Module:
    replacements: dict[cst.CSTNode, cst.CSTNode] = {}
    for call in targets:
        args = [cst.Arg(value=call.func), *_without_trailing_comma(call.args)]
        inner: cst.Call
        if style == "to_thread":
            inner = cst.Call(func=cst.parse_expression("asyncio.to_thread"), args=args)
        elif style == "starlette":
            inner = cst.Call(func=cst.Name("run_in_threadpool"), args=args)
        else:
            partial = cst.Call(func=cst.parse_expression("functools.partial"), args=args)
            inner = cst.Call(
                func=cst.parse_expression("asyncio.get_running_loop().run_in_executor"),
                args=[cst.Arg(value=cst.Name(EXECUTOR)), cst.Arg(value=partial)],
            )
        wrapped = cst.Await(expression=inner)
        if needs_parentheses(parsed, call):
            wrapped = wrapped.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        replacements[call] = wrapped
    module = replace_nodes(parsed.module, replacements)
    if style == "to_thread":
        return with_imports(module, [("asyncio", None)])
    if style == "starlette":
        return with_imports(module, [("starlette.concurrency", "run_in_threadpool")])
    if EXECUTOR not in {
        dotted(t.target)
        for stmt in module.body
        if isinstance(stmt, cst.SimpleStatementLine)
        for small in stmt.body
        if isinstance(small, cst.Assign)
        for t in small.targets
    }:
        statement = cst.parse_statement(EXECUTOR_LINE).with_changes(
            leading_lines=[cst.EmptyLine(), cst.EmptyLine(comment=cst.Comment(EXECUTOR_COMMENT))]
        )
        module = after_imports(module, [statement])
    return with_imports(
        module,
        [("asyncio", None), ("functools", None), ("concurrent.futures", "ThreadPoolExecutor")],
    )


def _without_trailing_comma(args: Sequence[cst.Arg]) -> list[cst.Arg]:
    out = list(args)
    if out:
        out[-1] = out[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return out


FIXER = BlockingModelCall("SVC001", "await the blocking model call in a thread pool")
IO_FIXER = BlockingModelCall(
    "SVC003", "await the blocking I/O in asyncio.to_thread", to_thread=True
)
