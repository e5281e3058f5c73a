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

Plain `http://` only: TLS and HTTP/2 go through aiohttp (`senders.AiohttpSender`), and the
probe says so in a notification.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from infermedic.probe.h1 import (
    HttpProtocolError,
    IncompleteResponse,
    Response,
    ResponseParser,
    ResponseTooLarge,
)
from infermedic.probe.loadgen import BODY_OVER_CAP, SendResult
from infermedic.probe.plan import DEFAULT_MAX_BODY
from infermedic.probe.senders import AiohttpSender
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


Callback = Callable[[Response | None, BaseException | None], None]
ResultCallback = Callable[[SendResult], None]
SWEEP_S = 0.05  # how often deadlines are checked: a request ends within this past its own


class _Job:
    """One request on its way: the bytes, who to tell, and its total deadline. A job for
    the load loops (`as_result`) is told with a `SendResult`, made once the exchange ends:
    no adapter function per request."""

    __slots__ = ("as_result", "callback", "deadline", "head", "request", "retried")

    def __init__(
        self,
        request: bytes,
        callback: Callable[..., None],
        head: bool,
        deadline: float,
        as_result: bool = False,
    ) -> None:
        self.request = request
        self.callback = callback
        self.head = head
        self.deadline = deadline
        self.as_result = as_result
        self.retried = False

    def answer(self, response: Response | None, error: BaseException | None) -> None:
        if self.as_result:
            self.callback(send_result(response, error))
        else:
            self.callback(response, error)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight on it. It tells its client
    when a response is complete or the connection failed."""

    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.parser = ResponseParser(max_body=client.max_body, head_cache=client.heads)
        self.transport: asyncio.Transport | None = None
        self.job: _Job | None = None
        self.closed = False
        self.used = 0  # complete responses read on it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is no `asyncio.Transport` subclass, but has its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            response = self.parser.feed(data)
        except HttpProtocolError as exc:
            self.client._failed(self, exc)
            return
        if response is None:
            if self.job is None:  # bytes no request asked for: the connection is not trusted
                self.abort()
            return
        self.used += 1
        if self.parser.has_leftover:  # bytes past the response: never reused (no pipelining)
            response.keep_alive = False
        self.client._landed(self, response)

    def eof_received(self) -> bool:
        self._end()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._end()

    def _end(self) -> None:
        if self.job is None:
            self.client._lost_idle(self)
            return
        try:
            response = self.parser.eof()
        except HttpProtocolError as exc:
            self.client._failed(self, exc)
            return
        if response is not None:
            self.used += 1
            self.client._landed(self, response)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class RawClient:
    """A pool of keep-alive connections to one host and port, driven by callbacks.

    `submit` sends a request and calls back with the complete response or the error: no
    task or future per request (the closed and open loops call `submit` again from the
    callback). `exchange` is the awaitable form. Deadlines are checked every `SWEEP_S`.
    """

    def __init__(
        self, host: str, port: int, *, connections: int, timeout_s: float, max_body: int
    ) -> None:
        self.host = host
        self.port = port
        self.connections = max(connections, 1)
        self.timeout_s = timeout_s
        self.max_body = max_body
        self.heads: dict[Any, Any] = {}  # parsed response heads, shared by its connections
        self.opened = 0  # connections opened over the client's life (keep-alive reuses them)
        self._idle: list[_Connection] = []
        self._queue: collections.deque[_Job] = collections.deque()  # waiting for a connection
        self._open = 0  # connections open or being opened
        self._all: set[_Connection] = set()
        self._connecting: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def submit(self, request: bytes, callback: Callback, *, head: bool = False) -> None:
        """Send `request`; `callback(response, None)` once it is complete, or `callback(None,
        error)`: `TimeoutError` past the deadline, `OSError`, `HttpProtocolError`."""
        self._submit(request, callback, head, False)

    def submit_for_result(
        self, request: bytes, callback: ResultCallback, *, head: bool = False
    ) -> None:
        """`submit`, telling `callback` the load loops' `SendResult` (`send_result`)."""
        self._submit(request, callback, head, True)

    def _submit(
        self, request: bytes, callback: Callable[..., None], head: bool, as_result: bool
    ) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        job = _Job(request, callback, head, loop.time() + self.timeout_s, as_result)
        if self._closed:  # never synchronously: a loop calling again from it would recurse
            loop.call_soon(job.answer, None, ConnectionError("client closed"))
            return
        self._dispatch(job)

    async def exchange(self, request: bytes, *, head: bool = False) -> Response:
        """One request and its complete response (the errors `submit` reports, raised)."""
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()

        def done(response: Response | None, error: BaseException | None) -> None:
            if future.done():
                return  # the caller gave up (cancelled); the answer has nowhere to go
            if error is not None:
                future.set_exception(error)
            else:
                assert response is not None
                future.set_result(response)

        self.submit(request, done, head=head)
        return await future

    def _dispatch(self, job: _Job) -> None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                self._start(conn, job)
                return
            self._forget(conn)
        if self._open < self.connections:
            self._open += 1
            assert self._loop is not None
            task = self._loop.create_task(self._connect(job))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)
            return
        self._queue.append(job)
        self._arm()

    async def _connect(self, job: _Job) -> None:
        assert self._loop is not None
        try:
            async with asyncio.timeout_at(job.deadline):
                _, conn = await self._loop.create_connection(
                    lambda: _Connection(self), self.host, self.port
                )
        except (OSError, TimeoutError) as exc:
            self._open -= 1
            self._serve_queue()
            job.answer(None, exc)
            return
        except asyncio.CancelledError:
            self._open -= 1
            raise
        self._all.add(conn)
        self.opened += 1
        if self._closed:
            conn.abort()
            return
        self._start(conn, job)

    def _start(self, conn: _Connection, job: _Job) -> None:
        assert conn.transport is not None
        conn.job = job
        conn.parser.start(head=job.head)
        conn.transport.write(job.request)
        if self._sweeper is None:
            self._arm()

    def _landed(self, conn: _Connection, response: Response) -> None:
        job, conn.job = conn.job, None
        if job is None:
            return
        if response.keep_alive and not conn.closed:
            if self._queue:
                self._start(conn, self._queue.popleft())
            else:
                self._idle.append(conn)
        else:
            self._drop(conn)
        if job.as_result:  # the load loops' path, inlined
            job.callback(send_result(response, None))
        else:
            job.callback(response, None)

    def _failed(self, conn: _Connection, error: BaseException) -> None:
        job, conn.job = conn.job, None
        self._drop(conn)
        if job is None:
            return
        # A reused keep-alive connection the server had closed: the request reached no
        # application, so it goes once more on a fresh connection within its deadline.
        stale = isinstance(error, IncompleteResponse) and not conn.parser.received
        assert self._loop is not None
        if stale and conn.used and not job.retried and self._loop.time() < job.deadline:
            job.retried = True
            self._dispatch(job)
            return
        job.answer(None, error)

    def _lost_idle(self, conn: _Connection) -> None:
        """An idle keep-alive connection ended (the server's idle timeout): its slot is free."""
        if conn in self._idle:
            self._idle.remove(conn)
        self._forget(conn)
        self._serve_queue()

    def _drop(self, conn: _Connection) -> None:
        conn.abort()
        self._forget(conn)
        self._serve_queue()

    def _forget(self, conn: _Connection) -> None:
        if conn in self._all:
            self._all.discard(conn)
            self._open -= 1

    def _serve_queue(self) -> None:
        """A connection slot is free: the next waiting request opens one in it."""
        if self._queue and self._open < self.connections and not self._closed:
            self._dispatch(self._queue.popleft())

    def _arm(self) -> None:
        if self._sweeper is None and self._loop is not None and not self._closed:
            self._sweeper = self._loop.call_later(SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        """End every request past its deadline: its connection is aborted, never reused."""
        assert self._loop is not None
        self._sweeper = None
        now = self._loop.time()
        busy = False
        for conn in list(self._all):
            job = conn.job
            if job is None:
                continue
            if job.deadline <= now:
                self._failed(conn, TimeoutError())
            else:
                busy = True
        if self._queue:
            waiting = list(self._queue)
            self._queue.clear()
            for job in waiting:
                if job.deadline <= now:
                    job.answer(None, TimeoutError())
                else:
                    self._queue.append(job)
        if busy or self._queue or self._connecting:
            self._arm()

    def close(self) -> None:
        """Abort everything: requests in flight are dropped without a callback."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in self._connecting:
            task.cancel()
        self._queue.clear()
        for conn in list(self._all):
            conn.job = None
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
        except (TimeoutError, OSError, HttpProtocolError) as exc:
            return send_result(None, exc)
        return send_result(response, None)

    def fire(self, callback: ResultCallback) -> None:
        """Send one request and call `callback` with its result: the loops' fast path (no
        task, future or adapter function per request)."""
        self.client.submit_for_result(self._request, callback, head=self._head)


_PLAIN: dict[int, SendResult] = {}  # results without timing headers or error, by status


def send_result(response: Response | None, error: BaseException | None) -> SendResult:
    """The load loops' view of one exchange: a status (0 = none) and its timing headers.
    Results are frozen, so the common one (a status, nothing else) is made once."""
    if response is None:
        if isinstance(error, TimeoutError):
            return SendResult(0, error="timeout")
        if isinstance(error, ResponseTooLarge):
            # an error status is the answer whatever its body's size; a 2xx past the cap is not
            if error.status >= 400:
                return SendResult(error.status)
            return SendResult(0, error=BODY_OVER_CAP)
        if isinstance(error, HttpProtocolError):
            return SendResult(0, error=f"bad response: {error}")
        return SendResult(0, error=type(error).__name__)
    headers = response.headers
    found = _TIMING.intersection(headers)  # one C-level pass; most answers have none
    if found:
        return SendResult(response.status, {name: headers[name] for name in found})
    plain = _PLAIN.get(response.status)
    if plain is None:
        plain = _PLAIN[response.status] = SendResult(response.status)  # 3 digits: <= 1000
    return plain


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
