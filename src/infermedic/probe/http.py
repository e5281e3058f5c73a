"""HTTP for contract checks (httpx, injectable transport) and secret redaction for evidence."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from infermedic.model import Evidence, EvidenceKind

REDACTED = "***"
BODY_EXCERPT = 160
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
)


class Redactor:
    """Replaces every secret (API key, bearer token, URL password) with `***`."""

    def __init__(self, secrets: Sequence[str]) -> None:
        # Longest first so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)


def split_credentials(url: str) -> tuple[str, tuple[str, ...]]:
    """The URL without a `user:password@` part, and the password to redact."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url, ()
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, tuple(s for s in (parts.password, parts.username) if s)


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

    `transport` is injectable (tests pass `httpx.ASGITransport`); auth headers are added
    unless a call asks for `auth=False` (the auth-enforcement check).
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        auth_headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = dict(auth_headers or {})
        self._client = httpx.AsyncClient(
            transport=transport, timeout=timeout_s, follow_redirects=False
        )
        self.requests_sent = 0

    async def aclose(self) -> None:
        await self._client.aclose()

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
        url = self.url(path)
        headers: dict[str, str] = dict(self._auth) if auth else {}
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
        self.requests_sent += 1
        started = time.perf_counter()
        try:
            response = await self._client.request(method, url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            return Exchange(
                method=method,
                url=url,
                request_excerpt=excerpt,
                status=0,
                reason="",
                elapsed_s=time.perf_counter() - started,
                error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
            )
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
            body=response.content,
        )
