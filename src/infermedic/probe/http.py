"""HTTP for contract checks (httpx, injectable transport): one host, bounded, total deadlines.

Every request of a probe goes to the host the user named: redirects are never followed (a
3xx is reported as the 3xx it is), credentials are attached only to the target's own origin,
each request has one total deadline (connect, send and the whole body), and a response body
larger than `max_body` is an error result, never read further.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from infermedic.errors import ConfigError
from infermedic.live import current_meter
from infermedic.model import Evidence, EvidenceKind
from infermedic.probe.plan import DEFAULT_MAX_BODY
from infermedic.redact import REDACTED, redact_text, redact_url, remember_secret, strip_userinfo

__all__ = [
    "DEFAULT_MAX_BODY",
    "REDACTED",
    "BodyTooLarge",
    "Exchange",
    "ProbeClient",
    "Redactor",
    "Target",
    "parse_target",
]

BODY_EXCERPT = 160
METRICS_MAX_BODY = 32 * 1024 * 1024  # the cap of a `/metrics` scrape (or --max-body if larger)
# Response headers worth keeping as evidence; everything else is noise in a report.
KEPT_HEADERS = (
    "server",
    "content-type",
    "server-timing",
    "x-queue-time",
    "x-inference-time",
    "x-model-version",
    "x-request-id",
    "x-bentoml-request-id",
    "www-authenticate",
    "location",
)


class Redactor:
    """Replaces every secret (API key, bearer token, URL password) with `***`, and whatever
    else `infermedic.redact.redact_text` recognises (URL userinfo, auth headers, …)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        for secret in self._secrets:
            remember_secret(secret)

    def __call__(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def __bool__(self) -> bool:
        return bool(self._secrets)


class BodyTooLarge(httpx.TransportError):
    """A response body went past the cap; a transport error, so every caller that handles a
    failed request handles it too. `status` and `reason` are the response's (its head was
    read), or 0 when unknown."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.headers: Mapping[str, str] = headers or {}

    @property
    def answered_error(self) -> bool:
        """The server answered an error status (4xx/5xx): that status is its answer whatever
        the body's size (an error page echoing a huge request is still a 422, not silence)."""
        return self.status >= 400


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """The service the user named: where all load goes and the only origin given credentials.

    `url` has no `user:password@` part; `username`/`password` become HTTP Basic auth.
    """

    url: str
    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def basic_auth(self) -> str | None:
        if self.username is None and self.password is None:
            return None
        raw = f"{self.username or ''}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def secrets(self) -> tuple[str, ...]:
        """What a server could echo back: the password, the Basic header and its token."""
        basic = self.basic_auth()
        token = basic.split(" ", 1)[1] if basic else None
        return tuple(s for s in (self.password, basic, token) if s)

    def same_host(self, url: str) -> bool:
        """True when `url` is on the target's host (any port): where probe may send anything."""
        return _origin(url)[1] == self.host

    def same_origin(self, url: str) -> bool:
        """True when `url` has the target's scheme, host and port: where credentials may go."""
        return _origin(url) == (self.scheme, self.host, self.port)


def _origin(url: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return ("", "", 0)
    return scheme, (parts.hostname or "").lower(), port


def parse_target(url: str) -> Target:
    """The target of a probe from the URL the user typed; `ConfigError` when it is unusable.

    `user:password@` in the URL is HTTP Basic auth for the target (never sent elsewhere).
    """
    shown = redact_url(url)
    hint = "give a URL like http://127.0.0.1:8000"
    clean, username, password = strip_userinfo(url.strip().rstrip("/"))
    try:
        parts = urlsplit(clean)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"target {shown!r} is not a valid URL: {exc}", hint=hint) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"target {shown!r} is not an http(s) URL", hint=hint)
    host = (parts.hostname or "").lower()
    if not host or any(c.isspace() for c in clean):
        raise ConfigError(f"target {shown!r} has no valid host", hint=hint)
    if parts.query or parts.fragment:
        # Routes are appended to the URL; a query there would end up in the middle of each.
        raise ConfigError(
            f"target {shown!r} has a query or fragment; give the service's base URL",
            hint="an API key goes in --api-key (and --api-key-header), not in the URL",
        )
    return Target(
        url=clean,
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        username=username or None,
        password=password,
    )


def body_excerpt(body: Any) -> str:
    """A short, single-line form of a JSON body or bytes for evidence."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        text = body[:BODY_EXCERPT].decode("utf-8", errors="replace")
        more = len(body) > BODY_EXCERPT
    else:
        text = json.dumps(body, separators=(",", ":"), allow_nan=True)
        more = len(text) > BODY_EXCERPT
        text = text[:BODY_EXCERPT]
    text = " ".join(text.split())
    return text + ("…" if more else "")


@dataclass(frozen=True, kw_only=True, slots=True)
class Exchange:
    """One request and what came back; `status` 0 means no response (connect error, timeout)."""

    method: str
    url: str
    request_excerpt: str
    status: int
    reason: str
    elapsed_s: float
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def action(self) -> str:
        text = f"{self.method} {self.url}"
        return f"{text} {self.request_excerpt}" if self.request_excerpt else text

    def observed(self) -> str:
        ms = self.elapsed_s * 1000.0
        if self.status == 0:
            return f"no response after {ms:.1f} ms: {self.error}"
        text = f"{self.status} {self.reason} in {ms:.1f} ms".replace("  ", " ")
        if 300 <= self.status < 400:
            text += f" (redirect to {self.headers.get('location', '?')}, not followed)"
        excerpt = body_excerpt(self.body)
        return f"{text}: {excerpt}" if excerpt else text

    def evidence(self, redact: Redactor) -> Evidence:
        return Evidence(
            kind=EvidenceKind.REQUEST,
            action=redact(self.action()),
            observed=redact(self.observed()),
            values={
                "status": self.status,
                "elapsed_ms": round(self.elapsed_s * 1000.0, 3),
                "headers": {k: redact(v) for k, v in self.headers.items()},
            },
        )


_UNSET: Any = object()


class ProbeClient:
    """The httpx client of the contract, detection and robustness checks.

    `transport` is injectable (tests pass `httpx.ASGITransport`). Auth headers are added to
    requests for the target's own origin unless a call asks for `auth=False` (the
    auth-enforcement check); a URL on another host is refused without a request. `stop`, when
    set, ends every request in flight at once (Ctrl-C) with an "interrupted" result.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        max_body: int = DEFAULT_MAX_BODY,
        target: Target | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.target = target or parse_target(base_url)
        self.base_url = self.target.url
        self._auth = dict(auth_headers or {})
        self.timeout_s = timeout_s
        self.max_body = max_body
        self._stop = stop
        self._client = httpx.AsyncClient(
            transport=transport, timeout=timeout_s, follow_redirects=False
        )
        self.requests_sent = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    def auth_headers(self) -> dict[str, str]:
        """The credentials this client sends to the target's origin."""
        return dict(self._auth)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + (path if path.startswith("/") else "/" + path)

    async def get(self, path: str, *, auth: bool = True) -> Exchange:
        return await self.request("GET", path, auth=auth)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = _UNSET,
        content: bytes | None = None,
        content_type: str | None = None,
        auth: bool = True,
    ) -> Exchange:
        exchange = await self._request(
            method, path, json_body=json_body, content=content, content_type=content_type, auth=auth
        )
        meter = current_meter()  # a live display counts every request of a step
        if meter is not None:
            meter.record(error=not exchange.ok)
        return exchange

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any,
        content: bytes | None,
        content_type: str | None,
        auth: bool,
    ) -> Exchange:
        url = self.url(path)
        # Credentials go to the target's origin only (not to another port, e.g. a management
        # API, and never to another host).
        headers: dict[str, str] = dict(self._auth) if auth and self.target.same_origin(url) else {}
        excerpt = ""
        if json_body is not _UNSET:
            content = json.dumps(json_body, allow_nan=True).encode()
            content_type = content_type or "application/json"
            excerpt = body_excerpt(json_body)
        elif content is not None:
            excerpt = (
                body_excerpt(content)
                if len(content) <= BODY_EXCERPT
                else (f"<{len(content)} bytes>")
            )
        if content_type:
            headers["Content-Type"] = content_type

        def failed(error: str, started: float) -> Exchange:
            return Exchange(
                method=method,
                url=url,
                request_excerpt=excerpt,
                status=0,
                reason="",
                elapsed_s=time.perf_counter() - started,
                error=error,
            )

        started = time.perf_counter()
        if not self.target.same_host(url):
            return failed("refused: not the target host", started)
        if self._stop is not None and self._stop.is_set():
            return failed("interrupted", started)
        self.requests_sent += 1
        work = asyncio.ensure_future(self._send(method, url, content, headers))
        stopper = asyncio.ensure_future(self._stop.wait()) if self._stop is not None else None
        try:
            await asyncio.wait(
                {work, *([stopper] if stopper else [])}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if stopper is not None:
                stopper.cancel()
            if not work.done():
                work.cancel()
                await asyncio.wait({work})
        if work.cancelled():
            return failed("interrupted", started)
        exc = work.exception()
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return failed(f"timeout: no complete response within {self.timeout_s:g} s", started)
        if isinstance(exc, BodyTooLarge):
            if not exc.answered_error:
                return failed(str(exc), started)
            # the status came back; only the body (not kept) was over the cap
            return Exchange(
                method=method,
                url=url,
                request_excerpt=excerpt,
                status=exc.status,
                reason=exc.reason,
                elapsed_s=time.perf_counter() - started,
                headers={k: exc.headers[k] for k in KEPT_HEADERS if k in exc.headers},
                error=str(exc),
            )
        if isinstance(exc, httpx.HTTPError):
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return failed(text, started)
        if exc is not None:
            raise exc
        response, body = work.result()
        elapsed = time.perf_counter() - started
        kept = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
        return Exchange(
            method=method,
            url=url,
            request_excerpt=excerpt,
            status=response.status_code,
            reason=response.reason_phrase,
            elapsed_s=elapsed,
            headers=kept,
            body=body,
        )

    def cap_for(self, url: str) -> int:
        """The body cap of a request: `max_body`, except a Prometheus scrape (`…/metrics`),
        which a server with many models legitimately makes a few MiB long."""
        path = urlsplit(url).path.rstrip("/")
        if path.endswith("/metrics"):
            return max(self.max_body, METRICS_MAX_BODY)
        return self.max_body

    async def _send(
        self, method: str, url: str, content: bytes | None, headers: dict[str, str]
    ) -> tuple[httpx.Response, bytes]:
        """One request under one total deadline, its body read up to `max_body` bytes."""
        async with asyncio.timeout(self.timeout_s):
            request = self._client.build_request(method, url, content=content, headers=headers)
            response = await self._client.send(request, stream=True)
            try:
                body = await read_capped(response, self.cap_for(url))
            finally:
                await response.aclose()
        return response, body


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed httpx response; `BodyTooLarge` past `limit` bytes."""
    answer: dict[str, Any] = {
        "status": response.status_code,
        "reason": response.reason_phrase,
        "headers": dict(response.headers),
    }
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(
            f"response body of {int(declared)} bytes is over the {limit}-byte cap "
            f"(HTTP {response.status_code}; raise it with --max-body)",
            **answer,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(
                f"response body over the {limit}-byte cap "
                f"(HTTP {response.status_code}; raise it with --max-body)",
                **answer,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def send_sync(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    content: bytes | None = None,
    json_body: Any = _UNSET,
    headers: Mapping[str, str] | None = None,
    deadline_s: float = 10.0,
    max_body: int = DEFAULT_MAX_BODY,
) -> tuple[int, bytes]:
    """One request from a synchronous client (profile's and the demo's load threads) under the
    same limits as the probe: no redirect followed, one total deadline (each read also has the
    client's timeout; the total is checked as the body arrives, so a server dripping bytes is
    cut off), and a body capped at `max_body`. Failures raise `httpx.TransportError`s
    (`httpx.ReadTimeout`, `BodyTooLarge`)."""
    started = time.monotonic()
    extra: dict[str, Any] = {} if json_body is _UNSET else {"json": json_body}
    with client.stream(
        method, url, content=content, headers=headers, follow_redirects=False, **extra
    ) as response:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body:
            raise BodyTooLarge(f"response body of {declared} bytes is over the {max_body}-byte cap")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_body:
                raise BodyTooLarge(f"response body over the {max_body}-byte cap")
            if time.monotonic() - started > deadline_s:
                raise httpx.ReadTimeout(f"no complete response within {deadline_s:g} s")
            chunks.append(chunk)
        if time.monotonic() - started > deadline_s:
            raise httpx.ReadTimeout(f"no complete response within {deadline_s:g} s")
        return response.status_code, b"".join(chunks)
