"""SVC003: synchronous network or disk I/O on the event loop of an `async def` route."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import call_text
from infermedic.audit.python.rule import PythonRule, Scope, first
from infermedic.audit.python.walker import BindingKind, Flag
from infermedic.model import Finding, Severity


class BlockingIoInAsyncRoute(PythonRule):
    """
    ## What it does
    Checks for synchronous I/O on the event loop of an `async def` route: calls on
    synchronous Redis, SQL (`psycopg2`, `sqlite3`, `pymysql`, SQLAlchemy `Session`), MongoDB,
    boto3, cloud-storage and `requests.Session`/`httpx.Client` clients anywhere on the
    route's call path (module globals, `with engine.connect() as conn`, session factories,
    parameters typed `Session`/`redis.Redis`, clients held by service objects), and
    `requests`, `urlopen`, `open`, `time.sleep`, `subprocess`, `shutil` copies and pandas
    readers (`pd.read_csv(upload.file)`, `read_parquet`, `read_sql`) in the async route or
    the sync helpers it calls.

    ## Why is this bad?
    While a synchronous client waits for the network, the whole event loop waits with it:
    every other request of the worker stalls. A feature-store lookup that takes 20 ms adds
    up to 20 ms to every concurrent request, and a slow Redis becomes a full outage.

    ## Example
    ```python
    import redis
    from fastapi import FastAPI

    app = FastAPI()
    cache = redis.Redis(host="features", socket_timeout=0.05)

    @app.get("/features/{user_id}")
    async def features(user_id: str):
        return {"features": cache.hgetall(f"user:{user_id}")}
    ```

    Use instead:
    ```python
    import redis.asyncio
    from fastapi import FastAPI

    app = FastAPI()
    cache = redis.asyncio.Redis(host="features", socket_timeout=0.05)

    @app.get("/features/{user_id}")
    async def features(user_id: str):
        return {"features": await cache.hgetall(f"user:{user_id}")}
    ```

    ## Known problems
    `requests`, `open`, `time.sleep` and `subprocess` written directly in an `async def`
    are also ruff's (ASYNC210, ASYNC230, ASYNC251, ASYNC220); both report them. A
    prediction-log write on the loop is also reported by SVC005, for a different cost:
    there the request waits for the sink, here every concurrent request does; an async
    client fixes this rule's finding, not SVC005's. A client that arrives as an untyped
    function parameter is recognised only when a repo caller passes a known client.

    ## References
    - ruff `ASYNC210`/`ASYNC230`/`ASYNC251`, flake8-async `ASYNC200`.
    """

    code = "SVC003"
    name = "blocking-io-in-async-route"
    severity = Severity.HIGH
    summary = "Synchronous network or disk I/O blocks the event loop of an async route."
    fix = (
        "Use an async client (`redis.asyncio`, `asyncpg`, `httpx.AsyncClient`) or "
        "`await run_in_threadpool(...)` around the call."
    )
    risk = "The event loop waits on the network; all concurrent requests stall with it."
    checklist = ()
    node_types = (ast.Call,)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.Call)
        if scope.flags & Flag.AWAITED:
            return
        reaches = scope.on_loop()
        if not reaches:
            return
        what = self._blocking(node, scope)
        if what is None:
            return
        reach = first(reaches)
        via = "" if len(reach.chain) == 1 else f" through `{' → '.join(reach.chain)}`"
        yield self.finding(
            scope.ctx.location(node),
            f"`{what}` does blocking I/O on the event loop of {reach.route.loop_kind} "
            f"`{reach.route.label}`{via}",
            evidence=scope.evidence(node, reach, what),
            fingerprint_key=f"{what}|{reach.route.label}",
        )

    def _blocking(self, node: ast.Call, scope: Scope) -> str | None:
        func = node.func
        if isinstance(func, ast.Attribute):
            receiver = scope.binding(func.value)
            if (
                receiver is not None
                and receiver.kind is BindingKind.SYNC_CLIENT
                and func.attr not in kc.SYNC_CLIENT_HANDLES
            ):
                return call_text(node)
        qualified = scope.qualified(func)
        if qualified in kc.BLOCKING_CALLS:
            return qualified
        return None
