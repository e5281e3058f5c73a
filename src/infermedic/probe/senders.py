"""The load path's library clients: aiohttp (TLS and HTTP/2 targets, which the raw client
does not speak) and httpx over an injected transport (in-process tests).

Plain-http load goes through `rawclient.RawSender`; these keep the same limits: no redirect
followed, one total deadline per request, a body capped at `max_body`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from infermedic.probe.loadgen import BODY_OVER_CAP, SendResult
from infermedic.probe.plan import DEFAULT_MAX_BODY
from infermedic.probe.servertiming import TIMING_HEADERS


class AiohttpSender:
    """The load path's HTTP client: aiohttp with keep-alive (httpx is too slow for load).

    Never follows a redirect (a 3xx is recorded as such), gives each request one total
    deadline that covers the whole body, and stops reading a body past `max_body` bytes.
    """

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
        self.url = url
        self.method = method
        self.body = body
        self.headers = dict(headers or {})
        if body is not None:
            self.headers.setdefault("Content-Type", "application/json")
        self.timeout_s = timeout_s
        self.connections = connections
        self.max_body = max_body
        self._session: Any = None

    async def __aenter__(self) -> AiohttpSender:
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.connections),
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def __call__(self) -> SendResult:
        import aiohttp

        try:
            # aiohttp's `total` timeout covers connect, send and reading the whole body.
            return await self._send()
        except TimeoutError:
            return SendResult(0, error="timeout")
        except aiohttp.ClientError as exc:
            return SendResult(0, error=type(exc).__name__)
        except ValueError as exc:  # aiohttp's refusals of a request it cannot build
            return SendResult(0, error=f"ValueError: {exc}")

    async def _send(self) -> SendResult:
        async with self._session.request(
            self.method, self.url, data=self.body, headers=self.headers, allow_redirects=False
        ) as response:
            timing = {k: response.headers[k] for k in TIMING_HEADERS if k in response.headers}
            declared = response.content_length
            if declared is not None:
                if declared > self.max_body:
                    return SendResult(0, error=BODY_OVER_CAP)
                await response.read()  # the fast path: a declared length within the cap
                return SendResult(response.status, timing or None)
            size = 0
            async for chunk in response.content.iter_chunked(65536):
                size += len(chunk)
                if size > self.max_body:
                    # Leaving the block releases the connection without reading the rest.
                    response.close()
                    return SendResult(0, error=BODY_OVER_CAP)
            return SendResult(response.status, timing or None)


class HttpxSender:
    """A load sender over httpx, for an injected transport (in-process tests); the same
    limits as `AiohttpSender`."""

    def __init__(
        self,
        url: str,
        *,
        transport: Any,
        method: str = "POST",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        import httpx

        self.url = url
        self.method = method
        self.body = body
        self.headers = dict(headers or {})
        if body is not None:
            self.headers.setdefault("Content-Type", "application/json")
        self.timeout_s = timeout_s
        self.max_body = max_body
        self._client = httpx.AsyncClient(
            transport=transport, timeout=timeout_s, follow_redirects=False
        )

    async def __aenter__(self) -> HttpxSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def __call__(self) -> SendResult:
        import httpx

        from infermedic.probe.http import BodyTooLarge, read_capped

        try:
            async with asyncio.timeout(self.timeout_s):
                request = self._client.build_request(
                    self.method, self.url, content=self.body, headers=self.headers
                )
                response = await self._client.send(request, stream=True)
                try:
                    await read_capped(response, self.max_body)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return SendResult(0, error="timeout")
        except BodyTooLarge as exc:
            # an error status is the answer whatever its body's size; a 2xx past the cap is not
            if exc.answered_error:
                return SendResult(exc.status)
            return SendResult(0, error=BODY_OVER_CAP)
        except httpx.HTTPError as exc:
            return SendResult(0, error=type(exc).__name__)
        timing = {k: response.headers[k] for k in TIMING_HEADERS if k in response.headers}
        return SendResult(response.status_code, timing or None)
