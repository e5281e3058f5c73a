"""The load path's HTTP/1.1 client: `asyncio.Protocol` connections (uvloop when installed).

A general client (aiohttp, httpx) spends tens of microseconds of Python per request; on a
small machine that makes the generator, not the service, the bottleneck. This client
writes one pre-built request per exchange and parses the answer with `h1.ResponseParser`,
and keeps every guarantee of the probe's other clients:

- keep-alive connections to the one host and port of the URL, at most `connections` of them
  (a request waits for a free one); nothing else is ever connected to;
- no redirect is followed: a 3xx is returned as the 3xx it is;
- one total deadline per request (waiting for a connection, connecting, sending and reading
  the whole body); a timed-out connection is aborted, never reused;
- the body is capped at `max_body` (a longer one is an error, read no further);
- a reused keep-alive connection the server closed before answering is retried once, on a
  fresh connection, within the same deadline (the request reached no application).

Plain `http://` only: TLS and HTTP/2 go through aiohttp (`loadgen.AiohttpSender`), and the
probe says so in a notification.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from infermedic.probe.h1 import (
    HttpProtocolError,
    IncompleteResponse,
    Response,
    ResponseParser,
    ResponseTooLarge,
)
from infermedic.probe.loadgen import BODY_OVER_CAP, AiohttpSender, SendResult
from infermedic.probe.plan import DEFAULT_MAX_BODY
from infermedic.probe.servertiming import TIMING_HEADERS

__all__ = ["FALLBACK_NOTE", "RawClient", "RawSender", "build_request", "load_sender", "supports"]

USER_AGENT = "infermedic-probe"
_TIMING = frozenset(TIMING_HEADERS)
_TOKEN_BAD = frozenset(' \t"(),/:;<=>?@[\\]{}\x7f') | frozenset(chr(i) for i in range(32))


def supports(url: str) -> bool:
    """True when the raw client can carry load to `url` (plain HTTP/1.1)."""
    return urlsplit(url).scheme.lower() == "http"


def build_request(
    url: str, method: str, body: bytes | None, headers: Mapping[str, str]
) -> tuple[str, int, bytes]:
    """(host, port, request bytes) of one request; `ValueError` for a header that could
    inject another (CR, LF or NUL in a value, a malformed name) or a URL it cannot carry."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        raise ValueError(f"the raw client speaks plain http, not {parts.scheme}")
    host = parts.hostname or ""
    port = parts.port or 80
    if not host:
        raise ValueError("URL has no host")
    if not method or not _TOKEN_BAD.isdisjoint(method):
        raise ValueError(f"invalid method {method!r}")
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == 80 else f"{shown}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(c in target for c in " \r\n\x00"):
        raise ValueError("request path holds whitespace or a control character")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}"]
    given = {k.lower() for k in headers}
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "accept" not in given:
        lines.append("Accept: */*")
    for name, value in headers.items():
        if not name or not _TOKEN_BAD.isdisjoint(name):
            raise ValueError(f"invalid header name {name!r}")
        if any(c in value for c in "\r\n\x00"):
            raise ValueError(f"header {name} holds CR, LF or NUL (header injection)")
        if name.lower() in ("host", "content-length", "transfer-encoding", "connection"):
            continue  # framing and routing belong to the client
        lines.append(f"{name}: {value}")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return host, port, head + (body or b"")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight on it."""

    def __init__(self, max_body: int, heads: dict[Any, Any]) -> None:
        self.parser = ResponseParser(max_body=max_body, head_cache=heads)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.used = 0  # complete responses read on it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is no `asyncio.Transport` subclass, but has its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            response = self.parser.feed(data)
        except HttpProtocolError as exc:
            self._fail(exc)
            return
        waiter = self.waiter
        if response is None:
            if waiter is None:  # bytes no request asked for: the connection cannot be trusted
                self.abort()
            return
        self.used += 1
        if self.parser.leftover:  # bytes past the response: never reused (no pipelining)
            response.keep_alive = False
        self.waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def eof_received(self) -> bool:
        self._end()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._end()

    def _end(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        try:
            response = self.parser.eof()
        except HttpProtocolError as exc:
            waiter.set_exception(exc)
            return
        if response is not None:
            self.used += 1
            waiter.set_result(response)

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def send(self, request: bytes, waiter: asyncio.Future[Response], *, head: bool) -> None:
        assert self.transport is not None
        self.waiter = waiter
        self.parser.start(head=head)
        self.transport.write(request)


def _expire(waiter: asyncio.Future[Response]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class RawClient:
    """A pool of keep-alive connections to one host and port."""

    def __init__(
        self, host: str, port: int, *, connections: int, timeout_s: float, max_body: int
    ) -> None:
        self.host = host
        self.port = port
        self.connections = max(connections, 1)
        self.timeout_s = timeout_s
        self.max_body = max_body
        self._idle: list[_Connection] = []
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self._open = 0  # connections open or being opened
        self._loop: asyncio.AbstractEventLoop | None = None
        self._all: set[_Connection] = set()
        self.opened = 0  # connections opened over the client's life (keep-alive reuses them)
        self._heads: dict[Any, Any] = {}  # parsed response heads, shared by its connections

    async def exchange(self, request: bytes, *, head: bool = False) -> Response:
        """One request and its complete response; `TimeoutError`, `OSError` or
        `HttpProtocolError` (`ResponseTooLarge` past the cap) when there is none."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        for attempt in (0, 1):
            conn = self._take()
            if conn is None:
                conn = await self._acquire(loop, deadline)
            reused = conn.used > 0
            waiter: asyncio.Future[Response] = loop.create_future()
            timer = loop.call_at(deadline, _expire, waiter)
            conn.send(request, waiter, head=head)
            try:
                response = await waiter
            except HttpProtocolError as exc:
                self._release(conn, reuse=False)
                stale = reused and isinstance(exc, IncompleteResponse) and not conn.parser.received
                if attempt == 0 and stale and loop.time() < deadline:
                    continue  # the server closed an idle keep-alive connection: once more
                raise
            except BaseException:
                self._release(conn, reuse=False)  # timeout or cancel: the answer is unknown
                raise
            finally:
                timer.cancel()
            self._release(conn, reuse=response.keep_alive)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self) -> _Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
            self._forget(conn)
        return None

    async def _acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        """A fresh connection, or the next one released when all `connections` are busy."""
        async with asyncio.timeout_at(deadline):
            if self._open >= self.connections:
                waiter: asyncio.Future[_Connection | None] = loop.create_future()
                self._waiters.append(waiter)
                try:
                    given = await waiter
                except BaseException:
                    if waiter.done() and not waiter.cancelled():
                        late = waiter.result()  # handed over as the deadline struck
                        if late is not None:
                            self._release(late, reuse=True)
                        else:
                            self._open -= 1
                    raise
                if given is not None:
                    return given
            else:
                self._open += 1
            try:
                _, conn = await loop.create_connection(
                    lambda: _Connection(self.max_body, self._heads), self.host, self.port
                )
            except BaseException:
                self._open -= 1
                self._wake_one()
                raise
        self._all.add(conn)
        self.opened += 1
        return conn

    def _release(self, conn: _Connection, *, reuse: bool) -> None:
        if reuse and not conn.closed:
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(conn)
                    return
            self._idle.append(conn)
            return
        conn.abort()
        self._forget(conn)
        self._wake_one()

    def _forget(self, conn: _Connection) -> None:
        if conn in self._all:
            self._all.discard(conn)
            self._open -= 1

    def _wake_one(self) -> None:
        """A slot is free: the first waiter opens a connection in it."""
        while self._waiters and self._open < self.connections:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._open += 1
                waiter.set_result(None)
                return

    def close(self) -> None:
        for conn in list(self._all):
            if conn.transport is not None:
                conn.transport.close()
            conn.closed = True
        self._all.clear()
        self._idle.clear()
        self._open = 0


class RawSender:
    """A load sender (`loadgen.Sender`) over `RawClient`: the same limits and results as
    `AiohttpSender` (status 0 with an error for no response, timing headers kept)."""

    def __init__(
        self,
        url: str,
        *,
        method: str = "POST",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        connections: int = 64,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        given = dict(headers or {})
        if body is not None and not any(k.lower() == "content-type" for k in given):
            given["Content-Type"] = "application/json"
        host, port, self._request = build_request(url, method, body, given)
        self._head = method == "HEAD"
        self.url = url
        self.client = RawClient(
            host, port, connections=connections, timeout_s=timeout_s, max_body=max_body
        )

    async def __aenter__(self) -> RawSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.client.close()

    async def __call__(self) -> SendResult:
        try:
            response = await self.client.exchange(self._request, head=self._head)
        except TimeoutError:
            return SendResult(0, error="timeout")
        except ResponseTooLarge:
            return SendResult(0, error=BODY_OVER_CAP)
        except HttpProtocolError as exc:
            return SendResult(0, error=f"bad response: {exc}")
        except OSError as exc:
            return SendResult(0, error=type(exc).__name__)
        headers = response.headers
        found = _TIMING.intersection(headers)  # one C-level pass; most answers have none
        timing = {name: headers[name] for name in found} if found else None
        return SendResult(response.status, timing)


FALLBACK_NOTE = (
    "load to {scheme}:// goes through aiohttp: probe's own fast client speaks plain "
    "HTTP/1.1 only (no TLS, no HTTP/2), so the generator has less headroom; its saturation "
    "is still measured and reported"
)


def load_sender(
    url: str,
    *,
    method: str,
    body: bytes | None,
    headers: Mapping[str, str],
    timeout_s: float,
    connections: int,
    max_body: int,
) -> RawSender | AiohttpSender:
    """The load path's sender for `url`: the raw client for plain http, else aiohttp (the
    caller says so with `FALLBACK_NOTE`)."""
    kind = RawSender if supports(url) else AiohttpSender
    return kind(
        url,
        method=method,
        body=body,
        headers=headers,
        timeout_s=timeout_s,
        connections=connections,
        max_body=max_body,
    )
