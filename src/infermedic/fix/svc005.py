"""SVC005: the prediction log becomes fire-and-forget.

The route's statement that writes the log (`log_prediction(features, score)` when the write
is calls down, `state["sink"].write(record)` when the route makes it) becomes
`_PREDICTION_LOG.submit(log_prediction, features, score)`: the arguments are taken now, in
the request, and the call runs later on one background thread that drains a bounded queue.
A write that raises is counted in `_PREDICTION_LOG.failed`, a record that finds the queue
full in `_PREDICTION_LOG.dropped`; neither reaches the client. One thread works for sync and
async routes of any framework, and keeps the writes in order. Refused when the route uses
the write's result (then it is not a log), or the call is not a statement of its own.
"""

from __future__ import annotations

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, chain_evidence, route_label, slug
from infermedic.fix.pyedit import (
    Parsed,
    after_imports,
    code_of,
    replace_nodes,
    the_call,
    with_imports,
)
from infermedic.fix.svc001 import LOG_WRITER, HandedToLogWriter, _calls_to, _route
from infermedic.model import Finding

LOGGER = LOG_WRITER
_WRITER = '''class _BackgroundLog:
    """Prediction-log writes off the request path (`infermedic fix` SVC005): a bounded queue
    drained by one thread; a failed write is counted in `failed`, a record that finds the
    queue full in `dropped`, and neither reaches the client."""

    def __init__(self, size: int = 10_000) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=size)
        self.failed = 0
        self.dropped = 0
        threading.Thread(target=self._drain, name="prediction-log", daemon=True).start()
        atexit.register(self.flush)

    def submit(self, write, *args, **kwargs) -> None:
        try:
            self.queue.put_nowait((write, args, kwargs))
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait (at most `timeout_s`) for the queued writes, as the process exits."""
        deadline = time.monotonic() + timeout_s
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def _drain(self) -> None:
        while True:
            write, args, kwargs = self.queue.get()
            try:
                write(*args, **kwargs)
            except Exception:  # noqa: BLE001 - a lost log line must not fail a prediction
                self.failed += 1
            finally:
                self.queue.task_done()


{logger} = _BackgroundLog()
'''


class FireAndForgetLog:
    code = "SVC005"
    title = "make the prediction log fire-and-forget (background queue)"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        chain = chain_evidence(finding)
        if chain is None or len(chain[0]) <= 2:
            path, parsed, _line, call = the_call(finding, workspace, "writes the log")
            route = parsed.enclosing_function(call)
            if route is None:
                raise Refused("the log write is not inside a function")
            targets = [call]
        else:
            steps, path, route_line = chain
            parsed = Parsed(workspace, path)
            route = _route(parsed, steps[0], workspace.line(path, route_line), need_async=False)
            try:
                targets = _calls_to(parsed, route, steps[1])
            except HandedToLogWriter as done:  # another write of the same chain, same fix
                return done.change(finding, path, route, "fire-and-forget")
        replacements: dict[cst.CSTNode, cst.CSTNode] = {}
        for call in targets:
            statement = parsed.parent(parsed.parent(call) or call)
            if not isinstance(parsed.parent(call), cst.Expr) or not isinstance(
                statement, cst.SimpleStatementLine
            ):
                raise Refused(
                    f"the route uses what `{code_of(parsed.module, call.func)}(...)` returns: "
                    "hand it to a queue by hand"
                )
            if any(arg.keyword is not None and arg.keyword.value == "write" for arg in call.args):
                raise Refused("the call takes a `write=` argument, which `submit` shadows")
            replacements[call] = cst.Call(
                func=cst.parse_expression(f"{LOGGER}.submit"),
                args=[
                    cst.Arg(call.func, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                    *call.args,
                ]
                if call.args
                else [cst.Arg(call.func)],
            )
        module = _with_writer(parsed, replacements)
        workspace.write(path, module.code)
        callee = code_of(parsed.module, targets[0].func)
        name = route.name.value
        return Change(
            code=self.code,
            path=path,
            summary=f"in `{name}`, `{callee}(...)` now goes through `{LOGGER}.submit(...)`: "
            "a background writer, errors counted",
            review=f"{path}: `{callee}` now runs on the `prediction-log` thread; check that "
            "its sink accepts calls from another thread (a sqlite connection needs "
            f"`check_same_thread=False`), and export `{LOGGER}.failed` / `.dropped` as metrics",
            where=slug(path, name),
            finding=finding,
            details={"route": route_label(finding) or "", "callee": callee},
        )


def _with_writer(parsed: Parsed, replacements: dict[cst.CSTNode, cst.CSTNode]) -> cst.Module:
    module = replace_nodes(parsed.module, replacements)
    defined = any(
        isinstance(stmt, cst.ClassDef) and stmt.name.value == "_BackgroundLog"
        for stmt in module.body
    )
    if not defined:
        text = _WRITER.format(logger=LOGGER)
        statements = list(cst.parse_module(text).body)
        statements[0] = statements[0].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        module = after_imports(module, statements)
    return with_imports(
        module, [("atexit", None), ("queue", None), ("threading", None), ("time", None)]
    )


FIXER = FireAndForgetLog()
