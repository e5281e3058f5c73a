"""Pure ASGI middleware: request id, Server-Timing, Prometheus metrics, health and /metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from infermedic.instrument.health import Readiness
from infermedic.instrument.looplag import LoopLagMonitor
from infermedic.instrument.metrics import InstrumentMetrics, multiprocess_dir, render_metrics
from infermedic.instrument.stages import RequestContext, _bind, _unbind

if TYPE_CHECKING:
    from infermedic.instrument.predlog import PredictionLogger

__all__ = ["InstrumentMiddleware", "format_server_timing", "instrument"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_log = logging.getLogger(__name__)

# An incoming id is echoed only if it is visible ASCII of sane length; anything else (header
# injection attempts, kilobyte-long ids) is replaced by a generated one.
_REQUEST_ID = re.compile(rb"[!-~]{1,200}")
# W3C Trace Context `traceparent`: version-traceid-parentid-flags, lowercase hex.
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_JSON = [(b"content-type", b"application/json")]
_UNMATCHED = "unmatched"
# OpenTelemetry's rule: other methods are `_OTHER`, so a client cannot mint label values.
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


def format_server_timing(stages: Iterable[tuple[str, float]], total_s: float) -> str:
    """`name;dur=<ms>, ..., total;dur=<ms>` with repeated names summed, first-seen order."""
    summed: dict[str, float] = {}
    for name, seconds in stages:
        summed[name] = summed.get(name, 0.0) + seconds
    parts = [f"{name};dur={seconds * 1000.0:.3f}" for name, seconds in summed.items()]
    parts.append(f"total;dur={total_s * 1000.0:.3f}")
    return ", ".join(parts)


def _route_template(scope: Scope) -> str:
    """The matched route's path template (`/items/{item_id}`), which bounds label cardinality.

    Starlette's router stores the matched route in `scope["route"]` on the scope dict we
    passed in, so it is readable after the app returns. Under a `Mount` the route's path is
    relative to the mount; the mount's matched prefix is what `root_path` grew by.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return _UNMATCHED
    root_path: str = scope.get("root_path", "")
    app_root_path: str = scope.get("app_root_path", root_path)
    if root_path.startswith(app_root_path) and len(root_path) > len(app_root_path):
        return root_path[len(app_root_path) :] + path
    return path


class InstrumentMiddleware:
    """The ASGI app `instrument()` returns; see `infermedic.instrument` for the behaviour.

    It can also be added with Starlette's `app.add_middleware(InstrumentMiddleware, ...)`.
    Attributes not defined here are read from the wrapped app, so `instrument(FastAPI())`
    still accepts `@app.get(...)`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        model_name: str | None = None,
        model_version: str | None = None,
        model_uri: str | None = None,
        health_paths: tuple[str, str] = ("/livez", "/readyz"),
        legacy_health: bool = False,
        metrics_path: str | None = "/metrics",
        loop_lag: bool = True,
        loop_lag_interval_s: float = 0.1,
        readiness: Readiness | None = None,
        prediction_logger: PredictionLogger | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.app = app
        # Where requests go after this middleware: the wrapped app, or (installed in place
        # by `instrument()`) the next layer of that app's own middleware stack.
        self._downstream: ASGIApp = app
        self._in_place = False
        # Without a Readiness of the user's, nothing else can mark one: the app is ready when
        # its own startup (where models load) has completed.
        self._ready_on_startup = readiness is None
        self.readiness = readiness if readiness is not None else Readiness()
        self.prediction_logger = prediction_logger
        self.registry = registry
        self.metrics = InstrumentMetrics.for_registry(registry)
        self.model_name = model_name
        self.model_version = model_version
        if model_name is not None or model_version is not None or model_uri is not None:
            self.metrics.model_info.labels(
                name=model_name or "", version=model_version or "", uri=model_uri or ""
            ).set(1)
        if prediction_logger is not None and prediction_logger.model_version is None:
            prediction_logger.model_version = model_version
        self.loop_lag: LoopLagMonitor | None = (
            LoopLagMonitor(
                self.metrics.loop_lag,
                self.metrics.loop_lag_distribution,
                interval_s=loop_lag_interval_s,
            )
            if loop_lag
            else None
        )
        live_path, ready_path = health_paths
        self._intercepts: dict[str, Callable[[Scope, Send], Awaitable[None]]] = {
            live_path: self._livez,
            ready_path: self._readyz,
        }
        if legacy_health:
            self._intercepts.setdefault("/health", self._livez)
            self._intercepts.setdefault("/ready", self._readyz)
        if metrics_path is not None:
            self._intercepts[metrics_path] = self._metrics
        # labels() takes a lock and formats strings; a dict hit is several times cheaper.
        self._duration_children: dict[tuple[str, str, int], Any] = {}
        self._stage_children: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        # Only called for names not found normally; `app` is always set in __init__, the
        # guard keeps copy/pickle (which probe attributes before __init__) from recursing.
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._in_place:
            # Installed in the app's own stack: the app runs this middleware there, once.
            await self.app(scope, receive, send)
            return
        await self._handle(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type == "http":
            handler = self._intercepts.get(scope["path"])
            if handler is not None and scope["method"] in ("GET", "HEAD"):
                await handler(scope, send)
            else:
                await self._http(scope, receive, send)
        elif scope_type == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self._downstream(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        request_id: bytes | None = None
        traceparent: bytes | None = None
        for header_name, value in scope["headers"]:
            if header_name == b"x-request-id":
                request_id = value
            elif header_name == b"traceparent":
                traceparent = value
        if request_id is None or not _REQUEST_ID.fullmatch(request_id):
            request_id = uuid.uuid4().hex.encode()
        if traceparent is not None and not _TRACEPARENT.fullmatch(traceparent):
            traceparent = None
        context = RequestContext(
            request_id.decode(), None if traceparent is None else traceparent.decode(), start
        )
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id))
                if traceparent is not None:
                    headers.append((b"traceparent", traceparent))
                timing = format_server_timing(context.stages, time.perf_counter() - start)
                headers.append((b"server-timing", timing.encode()))
                message = {**message, "headers": headers}
            await send(message)

        metrics = self.metrics
        metrics.active_requests.inc()
        token = _bind(context)
        error_type: str | None = None
        try:
            await self._downstream(scope, receive, send_with_headers)
        except BaseException as exc:
            error_type = type(exc).__name__
            if not response_started:
                status = 500
            raise
        finally:
            _unbind(token)
            metrics.active_requests.dec()
            self._observe(scope, context, status, error_type, time.perf_counter() - start)

    def _observe(
        self,
        scope: Scope,
        context: RequestContext,
        status: int,
        error_type: str | None,
        duration_s: float,
    ) -> None:
        route = _route_template(scope)
        method = scope["method"]
        if method not in _KNOWN_METHODS:
            method = "_OTHER"
        key = (method, route, status)
        child = self._duration_children.get(key)
        if child is None:
            child = self.metrics.request_duration.labels(method, route, str(status))
            self._duration_children[key] = child
        child.observe(duration_s)
        if context.stages:
            summed: dict[str, float] = {}
            for name, seconds in context.stages:
                summed[name] = summed.get(name, 0.0) + seconds
            for name, seconds in summed.items():
                stage_child = self._stage_children.get(name)
                if stage_child is None:
                    stage_child = self.metrics.stage_duration.labels(name)
                    self._stage_children[name] = stage_child
                stage_child.observe(seconds)
        if error_type is None and status >= 500:
            error_type = f"http_{status}"
        if error_type is not None:
            self.metrics.errors.labels(route, error_type).inc()

    async def _respond(
        self,
        scope: Scope,
        send: Send,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        start: float,
    ) -> None:
        # Server-Timing on health answers too: a probe that sees a slow /livez from outside
        # but a tiny `total` here knows the time went before the app ran (a blocked loop).
        timing = f"total;dur={(time.perf_counter() - start) * 1000.0:.3f}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    *headers,
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    (b"server-timing", timing),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _livez(self, scope: Scope, send: Send) -> None:
        await self._respond(scope, send, 200, b'{"live":true}', _JSON, time.perf_counter())

    async def _readyz(self, scope: Scope, send: Send) -> None:
        start = time.perf_counter()
        status = self.readiness.status()
        body = json.dumps(status, separators=(",", ":")).encode()
        await self._respond(scope, send, 200 if status["ready"] else 503, body, _JSON, start)

    async def _metrics(self, scope: Scope, send: Send) -> None:
        start = time.perf_counter()
        body, content_type = render_metrics(self.registry)
        headers = [(b"content-type", content_type.encode())]
        await self._respond(scope, send, 200, body, headers, start)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        received: list[str] = []
        sent: list[str] = []

        async def receive_and_hook() -> Message:
            message = await receive()
            received.append(message["type"])
            if message["type"] == "lifespan.shutdown":
                # Out of rotation as soon as shutdown begins, before the app's own handlers.
                self.readiness.mark_not_ready("shutting down")
            return message

        async def send_and_hook(message: Message) -> None:
            kind = message["type"]
            sent.append(kind)
            if kind == "lifespan.startup.complete":
                self._on_startup()
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self._shutdown()
            await send(message)

        try:
            await self._downstream(scope, receive_and_hook, send_and_hook)
        except Exception:
            if sent:  # the app speaks lifespan and failed (Starlette sends *.failed first)
                raise
            # An app without lifespan support: answer the protocol ourselves, so the
            # sampler and the logger's flush still run under uvicorn's default "auto" mode.
            if "lifespan.startup" not in received:
                await receive()
            self._on_startup()
            await send({"type": "lifespan.startup.complete"})
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            self.readiness.mark_not_ready("shutting down")
            await self._shutdown()
            await send({"type": "lifespan.shutdown.complete"})

    def _on_startup(self) -> None:
        if self._ready_on_startup:
            self.readiness.mark_ready()
        # Started after the app's own startup so model loading is not counted as lag.
        if self.loop_lag is not None:
            self.loop_lag.start()

    async def _shutdown(self) -> None:
        if self.loop_lag is not None:
            await self.loop_lag.stop()
        if self.prediction_logger is not None:
            # close() joins the writer thread; keep that wait off the event loop.
            flushed = await asyncio.to_thread(self.prediction_logger.close)
            if not flushed:
                _log.warning("prediction log not fully flushed at shutdown")
        if multiprocess_dir() is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def instrument(
    app: ASGIApp,
    *,
    model_name: str | None = None,
    model_version: str | None = None,
    model_uri: str | None = None,
    health_paths: tuple[str, str] = ("/livez", "/readyz"),
    legacy_health: bool = False,
    metrics_path: str | None = "/metrics",
    loop_lag: bool = True,
    readiness: Readiness | None = None,
    prediction_logger: PredictionLogger | None = None,
    registry: CollectorRegistry | None = None,
) -> InstrumentMiddleware:
    """Instrument an ASGI app (FastAPI, Starlette, any); returns the instrumented app.

    A Starlette or FastAPI app that has not started is instrumented in place (its
    `add_middleware`), so `instrument(app)` with the result ignored works, as
    OpenTelemetry's `instrument_app(app)` does; serving the returned object instead is the
    same (it hands every request to the app, whose stack runs the middleware once). Any
    other ASGI app is wrapped: serve the returned object.
    """
    middleware = InstrumentMiddleware(
        app,
        model_name=model_name,
        model_version=model_version,
        model_uri=model_uri,
        health_paths=health_paths,
        legacy_health=legacy_health,
        metrics_path=metrics_path,
        loop_lag=loop_lag,
        readiness=readiness,
        prediction_logger=prediction_logger,
        registry=registry,
    )
    build = getattr(app, "build_middleware_stack", None)
    if callable(build) and getattr(app, "middleware_stack", True) is None:
        # Starlette builds its stack on the first call: until then the stack can gain an
        # outermost layer (outside ServerErrorMiddleware, so a 500 still gets the headers and
        # is counted), as OpenTelemetry's FastAPI instrumentation does.
        def build_instrumented() -> ASGIApp:
            middleware._downstream = build()
            return _InStack(middleware)

        setattr(app, "build_middleware_stack", build_instrumented)  # noqa: B010 - a method
        middleware._in_place = True
    return middleware


class _InStack:
    """The outermost layer of an in-place `instrument()`ed app's stack: runs the shared
    `InstrumentMiddleware`, whose downstream is the stack the app built."""

    def __init__(self, instrumented: InstrumentMiddleware) -> None:
        self._instrumented = instrumented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._instrumented._handle(scope, receive, send)
