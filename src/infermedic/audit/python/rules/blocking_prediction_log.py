"""SVC005: the prediction log is written synchronously inside the request."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import call_text
from infermedic.audit.python.index import Reach
from infermedic.audit.python.route_kinds import is_prediction_route, is_training_or_upload_route
from infermedic.audit.python.rule import PythonRule, Scope, first
from infermedic.audit.python.walker import BindingKind, ClassInfo, Flag
from infermedic.model import Finding, Severity

_LOGGING_NAME = re.compile(r"log|record|save|store|persist|audit|track|write|sink", re.I)
_LOG_PATH = re.compile(r"log|pred|infer|audit|events", re.I)
# HTTP sends count as a log write only where the code is plainly about logging: whole words
# of the route chain, the writer's class or its module (`PredictionSink.write`, `ship_logs`),
# not substrings (`catalog`, `login`).
_HTTP_LOG_WORDS = frozenset(
    {"log", "logs", "logger", "logging", "sink", "collector", "audit", "telemetry", "tracking"}
)
_HTTP_SEND_CALLS = frozenset(
    {"requests.post", "requests.put", "requests.patch", "httpx.post", "httpx.put", "httpx.patch"}
)
_HTTP_SEND_METHODS = frozenset({"post", "put", "patch"})
_SYNC_HTTP_CLIENTS = frozenset({"requests.Session", "requests.session", "httpx.Client"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def log_write(call: ast.Call, scope: Scope, reach: Reach) -> str | None:
    """The log sink `call` writes to synchronously (`df.to_csv`, `cursor.execute`), or None."""
    if scope.flags & Flag.AWAITED:
        return None
    func = call.func
    qualified = scope.qualified(func)
    names_logging = any(_LOGGING_NAME.search(step) for step in reach.chain)
    if qualified in kc.LOG_WRITE_CALLS and (qualified.startswith("mlflow.") or names_logging):
        return qualified
    if qualified in {"open", "io.open"}:
        mode = (
            call.args[1]
            if len(call.args) > 1
            else next((k.value for k in call.keywords if k.arg == "mode"), None)
        )
        if isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "a" in mode.value:
            return f"open(..., {mode.value!r})"
        return None
    if _ships_log_over_http(call, qualified, scope, reach):
        return call_text(call) if qualified is None else qualified
    if not isinstance(func, ast.Attribute):
        return None
    method = func.attr
    if method in {"insert_one", "insert_many", "to_sql", "put_object", "xadd"}:
        return call_text(call)
    if method in kc.LOG_WRITE_METHODS:
        path = call.args[0] if call.args else None
        literal = isinstance(path, ast.Constant) and isinstance(path.value, str)
        if names_logging or (literal and _LOG_PATH.search(str(path.value))):  # type: ignore[union-attr]
            return call_text(call)
        return None
    if method in kc.DB_WRITE_METHODS:
        receiver = scope.binding(func.value)
        if receiver is not None and receiver.kind is BindingKind.SYNC_CLIENT and names_logging:
            return call_text(call)
        if method in {"execute", "executemany"} and call.args:
            sql = call.args[0]
            if (
                isinstance(sql, ast.Constant)
                and isinstance(sql.value, str)
                and re.match(r"\s*insert\b", sql.value, re.I)
            ):
                return call_text(call)
    if method in {"writerow", "writerows", "write"} and names_logging:
        return call_text(call)
    if (
        method in _ORM_WRITES
        and (names_logging or is_prediction_route(reach.route))
        and _orm_model(func.value, scope)
    ):
        return call_text(call)
    return None


# `row.save()`, `Prediction.create(...)` on an ORM model class of the repo.
_ORM_WRITES = frozenset({"save", "create", "insert", "insert_many", "bulk_create"})
_ORM_BASES = frozenset(
    {
        "peewee.Model",
        "django.db.models.Model",
        "django.db.models.base.Model",
        "mongoengine.Document",
        "mongoengine.document.Document",
        "pony.orm.core.Entity",
    }
)


def _orm_model(receiver: ast.expr, scope: Scope) -> bool:
    """Whether `receiver` is an instance of (or is) a repo class built on a sync ORM model."""
    cls = scope.index.class_called(receiver, scope.function, scope.module)
    if cls is None:
        holder = scope.binding(receiver)
        if holder is None or holder.kind is not BindingKind.INSTANCE:
            return False
        found = scope.index.lookup(holder.origin)
        cls = found if isinstance(found, ClassInfo) else None
    return cls is not None and bool(scope.index.base_names(cls) & _ORM_BASES)


def _ships_log_over_http(call: ast.Call, qualified: str | None, scope: Scope, reach: Reach) -> bool:
    """A synchronous HTTP send (`requests.post`, a `POST` through `urlopen`, a sync client's
    `.post`) made by code whose names say it ships logs."""
    func = call.func
    if qualified in _HTTP_SEND_CALLS:
        sends = True
    elif qualified == "urllib.request.urlopen":
        sends = _urlopen_sends_data(call, scope)
    elif isinstance(func, ast.Attribute) and func.attr in _HTTP_SEND_METHODS:
        client = scope.binding(func.value)
        sends = client is not None and client.origin in _SYNC_HTTP_CLIENTS
    else:
        sends = False
    if not sends:
        return False
    names = list(reach.chain)
    function = scope.function
    if function is not None:
        names.append(function.qualname)  # its class and module: `app.prediction_sink.Sink.write`
    return any(
        word.lower() in _HTTP_LOG_WORDS
        for name in names
        for part in name.split(".")
        for word in _WORD.findall(part)
    )


def _urlopen_sends_data(call: ast.Call, scope: Scope) -> bool:
    """`urlopen(url, data)`, or `urlopen(request)` of a `Request` built with a body or a
    sending method, in place or in a local variable of the same function."""
    if len(call.args) > 1 or any(k.arg == "data" for k in call.keywords):
        return True
    target = call.args[0] if call.args else None
    if isinstance(target, ast.Name) and scope.function is not None:
        target = next(
            (
                node.value
                for node in ast.walk(scope.function.node)
                if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == target.id for t in node.targets)
            ),
            None,
        )
    if not isinstance(target, ast.Call) or scope.qualified(target.func) != "urllib.request.Request":
        return False
    if len(target.args) > 1 or any(k.arg == "data" for k in target.keywords):
        return True
    method = next((k.value for k in target.keywords if k.arg == "method"), None)
    return (
        isinstance(method, ast.Constant)
        and isinstance(method.value, str)
        and method.value.upper() in {"POST", "PUT", "PATCH"}
    )


class BlockingPredictionLog(PythonRule):
    """
    ## What it does
    Checks for prediction logging written synchronously on the request path: a CSV or
    Parquet append, a database `INSERT`, a MongoDB `insert_one`, an ORM row saved on a
    prediction route (`Prediction(...).save()` on a peewee, Django or MongoEngine model
    class of the repo), an `open(..., "a")` file
    append, an `mlflow.log_*` call, a synchronous HTTP `POST`/`PUT` to a log collector
    (`requests.post`, `urlopen` of a request with a body, a sync `httpx.Client`), executed by
    a route or by a repo function it calls (names like `log_prediction`, `save_record`,
    `store_*` mark logging helpers; an HTTP send needs a whole word such as `log`, `sink` or
    `collector` in the call chain, the writer's class or its module).

    ## Why is this bad?
    The response waits for the log sink. A slow disk, a locked table or a network hiccup
    in the logging database turns into prediction latency, and an exception in the sink
    turns into a 5xx for a prediction that succeeded. Prediction logs should be
    fire-and-forget: queued, written in the background, errors counted and swallowed.

    ## Example
    ```python
    import sqlite3

    from fastapi import FastAPI

    app = FastAPI()
    db = sqlite3.connect("predictions.db", check_same_thread=False)

    def log_prediction(features, score):
        db.execute("INSERT INTO predictions VALUES (?, ?)", (str(features), score))
        db.commit()

    @app.post("/predict")
    def predict(features: list[float]):
        score = sum(features)
        log_prediction(features, score)
        return {"score": score}
    ```

    Use instead:
    ```python
    import sqlite3

    from fastapi import BackgroundTasks, FastAPI

    app = FastAPI()
    db = sqlite3.connect("predictions.db", check_same_thread=False)

    def log_prediction(features, score):
        db.execute("INSERT INTO predictions VALUES (?, ?)", (str(features), score))
        db.commit()

    @app.post("/predict")
    def predict(features: list[float], background_tasks: BackgroundTasks):
        score = sum(features)
        background_tasks.add_task(log_prediction, features, score)
        return {"score": score}
    ```

    ## Known problems
    Writes on routes whose path or handler name says they train or take uploads
    (`/train`, `/upload`, `/feedback`, `/datasets`) and not that they predict are the
    route's job, not a prediction log, and are not reported.
    Standard `logging` calls are not reported: they are cheap unless a handler ships
    records over the network synchronously, which the rule cannot see. A write to a sink
    whose helper has a neutral name (`handle()`) is only reported when it is recognisably a
    log (an SQL `INSERT`, an append-mode `open`, a path containing `log` or `pred`).
    In an `async def` route the write is also reported by SVC003: the request waits for
    the sink (this rule) and the event loop stalls with it (SVC003). An async client fixes
    only the second; a background task or queue fixes both.
    """

    code = "SVC005"
    name = "blocking-prediction-log"
    severity = Severity.MEDIUM
    summary = "The prediction log is written synchronously while the client waits."
    fix = (
        "Hand the write to `background_tasks.add_task(...)` or a bounded queue drained by "
        "a background writer (`infermedic.instrument` has one)."
    )
    risk = "A slow or failing log sink adds latency to, or fails, every prediction."
    checklist = ("D-21/22",)
    node_types = (ast.Call,)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.Call)
        # On a training or upload route the write is the job, not a prediction log.
        reaches = [r for r in scope.on_request_path() if not is_training_or_upload_route(r.route)]
        if not reaches:
            return
        reach = first(reaches)
        sink = log_write(node, scope, reach)
        if sink is None:
            return
        via = "" if len(reach.chain) == 1 else f" (through `{' → '.join(reach.chain)}`)"
        yield self.finding(
            scope.ctx.location(node),
            f"`{sink}` writes the prediction log while `{reach.route.label}` waits{via}",
            evidence=scope.evidence(node, reach, sink),
            fingerprint_key=f"{sink}|{reach.route.label}",
        )
