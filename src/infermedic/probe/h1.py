"""An incremental HTTP/1.1 response parser for the load path (sans-IO: bytes in, responses out).

The load generator's own client (`rawclient`) reads responses with this parser instead of a
general HTTP library, so that a Python generator is never the bottleneck of a load run. It
is strict where a lenient parser would let a hostile server mislead the measurement:

- framing by `Transfer-Encoding: chunked`, `Content-Length`, or the end of the connection
  (RFC 9112 §6.3); a response with both, or with conflicting lengths, is bad framing;
- a bare CR or LF, a NUL, a folded (obs-fold) line or a malformed header name in the head is
  an error, never a header split in two (response-splitting, header injection);
- the head is capped (`max_head`) and so is the body (`max_body`): a declared length over the
  cap fails at once, a chunked or read-until-close body fails when it passes it;
- interim `1xx` answers are skipped; `204`, `304` and answers to `HEAD` have no body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "MAX_HEAD",
    "HttpProtocolError",
    "IncompleteResponse",
    "Response",
    "ResponseParser",
    "ResponseTooLarge",
]

MAX_HEAD = 64 * 1024  # status line + headers (uvicorn/h11 accept 64 KiB too)
MAX_CHUNK_LINE = 1024  # a chunk-size line with its extensions
HEAD_CACHE = 64  # distinct heads remembered (cleared when full)
_HEX = frozenset(b"0123456789abcdefABCDEF")

# parser states
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


# A response head: status line, then header fields whose names are tokens (RFC 9110 §5.1)
# and whose values hold no CR, LF or NUL; lines end in CRLF (the blank line is cut off).
_HEAD_RE = re.compile(
    r"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n\x00]*))?"
    r"((?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n\x00]*)*)"
)
_FIELD_RE = re.compile(r"\r\n([^:]+):[ \t]*([^\r\n]*)")


# status, reason, headers, keep-alive, body state, body length: a parsed head, reusable
_Parsed = tuple[int, str, Mapping[str, str], bool, int, int]


class HttpProtocolError(ValueError):
    """The server's bytes are not a valid HTTP/1.1 response (bad framing, malformed head)."""


class ResponseTooLarge(HttpProtocolError):
    """The response body (declared or received) went past the cap; `status` is the response's
    (its head was read)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class IncompleteResponse(HttpProtocolError):
    """The connection ended before the response was complete."""


@dataclass(slots=True, kw_only=True)
class Response:
    """One complete response. `headers` has lower-case names; repeated headers are joined
    with `, ` (RFC 9110 §5.3); read-only (responses with the same head share it). `body` is
    empty unless the parser keeps bodies."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    body_size: int
    keep_alive: bool


class ResponseParser:
    """Parses one response at a time from the bytes of one connection.

    Call `start()` before each request's response, `feed()` with every chunk received (it
    returns the response once complete; bytes past it stay in `leftover`), and `eof()` when
    the connection ends (it completes a body read until close, else raises
    `IncompleteResponse`). Errors are `HttpProtocolError`s; after one the connection is done.
    """

    __slots__ = (
        "_body",
        "_buf",
        "_chunks",
        "_head",
        "_heads",
        "_remaining",
        "_response",
        "_size",
        "_state",
        "_trailer_bytes",
        "keep_body",
        "max_body",
        "max_head",
        "received",
    )

    def __init__(
        self,
        *,
        max_body: int,
        max_head: int = MAX_HEAD,
        keep_body: bool = False,
        head_cache: dict[tuple[bytes, bool], _Parsed] | None = None,
    ) -> None:
        self.max_body = max_body
        # Parsed heads by their exact bytes: under load a server sends the same head again
        # and again (the `date` changes once a second), so most heads are parsed once. Share
        # one dict among the parsers of one client (same `max_body`).
        self._heads: dict[tuple[bytes, bool], _Parsed] = {} if head_cache is None else head_cache
        self.max_head = max_head
        self.keep_body = keep_body
        self._buf = bytearray()
        self._state = _DONE
        self._head = False
        self._response: Response | None = None
        self._chunks: list[bytes] = []
        self._remaining = 0
        self._size = 0
        self._trailer_bytes = 0
        self.received = 0  # bytes of the current response seen so far (0: nothing came back)

    @property
    def leftover(self) -> bytes:
        """Bytes received past the end of the last complete response."""
        return bytes(self._buf)

    @property
    def has_leftover(self) -> bool:
        """Bytes were received past the end of the last complete response."""
        return bool(self._buf)

    @property
    def reads_until_close(self) -> bool:
        return self._state == _UNTIL_CLOSE

    def start(self, *, head: bool = False) -> None:
        """Expect the response to a new request (`head`: the request was a HEAD)."""
        self._state = _HEAD
        self._head = head
        self._response = None
        self._chunks = []
        self._size = 0
        self._trailer_bytes = 0
        self.received = len(self._buf)

    def feed(self, data: bytes) -> Response | None:
        """Add received bytes; the response once it is complete, else None."""
        if self._state == _DONE:
            if data:
                self._buf += data
            return None
        self.received += len(data)
        buf = self._buf
        buf += data
        if self._state == _HEAD:
            end = buf.find(b"\r\n\r\n")
            while True:
                if end < 0:
                    if len(buf) > self.max_head:
                        raise HttpProtocolError(f"response head over {self.max_head} bytes")
                    return None
                if end + 4 > self.max_head:
                    raise HttpProtocolError(f"response head over {self.max_head} bytes")
                head = bytes(buf[:end])
                del buf[: end + 4]
                if self._parse_head(head):
                    break
                end = buf.find(b"\r\n\r\n")  # an interim 1xx answer: the real one follows
        if self._state == _LENGTH:  # the common case, inlined
            remaining = self._remaining
            take = remaining if remaining <= len(buf) else len(buf)
            if take:
                if self.keep_body:
                    self._chunks.append(bytes(buf[:take]))
                self._size += take
                del buf[:take]
                remaining -= take
                self._remaining = remaining
            if remaining:
                return None
            return self._finish()
        if self._state == _UNTIL_CLOSE:
            if buf:
                self._grow(len(buf))
                self._take(buf, len(buf))
            return None
        return self._chunked(buf)

    def eof(self) -> Response | None:
        """The connection ended: the response if its body runs until close, else an error
        (None when no response was expected)."""
        if self._state == _DONE:
            return None
        if self._state == _UNTIL_CLOSE:
            return self._finish()
        raise IncompleteResponse(
            "connection closed before a complete response"
            if self.received
            else "connection closed without a response"
        )

    # -- internals ----------------------------------------------------------------------

    def _parse_head(self, head: bytes) -> bool:
        """Parse status line and headers; False for an interim 1xx answer (skipped)."""
        key = (head, self._head)
        known = self._heads.get(key)
        if known is not None:
            status, reason, headers, keep_alive, self._state, self._remaining = known
            self._response = Response(
                status=status,
                reason=reason,
                headers=headers,
                body=b"",
                body_size=0,
                keep_alive=keep_alive,
            )
            return True
        # One regular expression validates the whole head in C (the load path parses one
        # head per request); `_diagnose` names what is wrong only when it does not match.
        text = head.decode("latin-1")
        match = _HEAD_RE.fullmatch(text)
        if match is None:
            raise _diagnose(head)
        minor, code, reason, _ = match.groups()
        status = int(code)
        fields = _FIELD_RE.findall(text, match.start(4))
        headers = {name.lower(): value.rstrip(" \t") for name, value in fields}
        if len(headers) != len(fields):
            headers = _merged(fields)
        if 100 <= status < 200 and status != 101:
            return False
        connection = headers.get("connection")
        tokens = {t.strip() for t in connection.lower().split(",")} if connection else set()
        # HTTP/1.1 keeps the connection unless told not to; HTTP/1.0 only when told to.
        keep_alive = "close" not in tokens if minor == "1" else "keep-alive" in tokens
        self._response = Response(
            status=status,
            reason=reason or "",
            headers=headers,
            body=b"",
            body_size=0,
            keep_alive=keep_alive,
        )
        self._frame(headers, status)
        if len(self._heads) >= HEAD_CACHE:
            self._heads.clear()
        response = self._response
        self._heads[key] = (
            status,
            response.reason,
            headers,
            response.keep_alive,
            self._state,
            self._remaining,
        )
        return True

    def _frame(self, headers: Mapping[str, str], status: int) -> None:
        """How the body is delimited (RFC 9112 §6.3)."""
        assert self._response is not None
        if self._head or status in (204, 304) or status == 101:
            self._state, self._remaining = _LENGTH, 0
            if status == 101:
                self._response.keep_alive = False  # a protocol switch: not HTTP any more
            return
        coding = headers.get("transfer-encoding")
        length = headers.get("content-length")
        if coding is not None:
            if length is not None:
                # Both: a request-smuggling shape (RFC 9112 §6.3 ¶3); never guess which.
                raise HttpProtocolError("response has both Transfer-Encoding and Content-Length")
            codings = [c.strip().lower() for c in coding.split(",")]
            if codings[-1] == "chunked":
                self._state = _CHUNK_SIZE
            else:
                self._state = _UNTIL_CLOSE
                self._response.keep_alive = False
            return
        if length is not None:
            if not length.isdigit() or not length.isascii() or len(length) > 18:
                raise HttpProtocolError(f"invalid Content-Length {length[:40]!r}")
            size = int(length)
            if size > self.max_body:
                raise ResponseTooLarge(
                    f"response body of {size} bytes is over the {self.max_body}-byte cap",
                    status=self._response.status if self._response is not None else 0,
                )
            self._state, self._remaining = _LENGTH, size
            return
        self._state = _UNTIL_CLOSE
        self._response.keep_alive = False

    def _grow(self, size: int) -> None:
        self._size += size
        if self._size > self.max_body:
            raise ResponseTooLarge(
                f"response body over the {self.max_body}-byte cap",
                status=self._response.status if self._response is not None else 0,
            )

    def _take(self, buf: bytearray, size: int) -> None:
        """Consume `size` body bytes from the front of the buffer."""
        if self.keep_body:
            self._chunks.append(bytes(buf[:size]))
        if self._state == _LENGTH:
            self._size += size
        del buf[:size]

    def _chunked(self, buf: bytearray) -> Response | None:
        while True:
            state = self._state
            if state == _CHUNK_SIZE:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_CHUNK_LINE:
                        raise HttpProtocolError("chunk-size line too long")
                    return None
                line = bytes(buf[:end])
                del buf[: end + 2]
                size_text = line.partition(b";")[0].strip(b" \t")
                if not size_text or len(size_text) > 15 or not _HEX.issuperset(size_text):
                    raise HttpProtocolError(f"invalid chunk size {line[:40]!r}")
                size = int(size_text, 16)
                if size == 0:
                    self._state = _TRAILERS
                    continue
                self._grow(size)
                self._remaining = size
                self._state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                take = min(self._remaining, len(buf))
                if not take:
                    return None
                self._take(buf, take)
                self._remaining -= take
                if self._remaining:
                    return None
                self._state = _CHUNK_END
            elif state == _CHUNK_END:
                if len(buf) < 2:
                    return None
                if buf[:2] != b"\r\n":
                    raise HttpProtocolError("chunk data not followed by CRLF")
                del buf[:2]
                self._state = _CHUNK_SIZE
            else:  # _TRAILERS: skipped, but bounded like the head
                end = buf.find(b"\r\n")
                if end < 0:
                    if self._trailer_bytes + len(buf) > self.max_head:
                        raise HttpProtocolError(f"response trailers over {self.max_head} bytes")
                    return None
                self._trailer_bytes += end + 2
                if self._trailer_bytes > self.max_head:
                    raise HttpProtocolError(f"response trailers over {self.max_head} bytes")
                del buf[: end + 2]
                if end == 0:
                    return self._finish()

    def _finish(self) -> Response:
        response = self._response
        assert response is not None
        self._state = _DONE
        response.body_size = self._size
        if self.keep_body:
            response.body = b"".join(self._chunks)
            self._chunks = []
        self._response = None
        return response


def _merged(fields: list[tuple[str, str]]) -> dict[str, str]:
    """Headers with repeated names joined (RFC 9110 §5.3); differing lengths are an error."""
    headers: dict[str, str] = {}
    for name, raw in fields:
        key, value = name.lower(), raw.rstrip(" \t")
        if key not in headers:
            headers[key] = value
        elif key == "content-length":
            if headers[key] != value:
                raise HttpProtocolError("conflicting Content-Length headers")
        else:
            headers[key] = f"{headers[key]}, {value}"
    return headers


def _diagnose(head: bytes) -> HttpProtocolError:
    """What is wrong with a head the expression refused, said precisely."""
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf or b"\x00" in head:
        # A lone CR or LF, or a NUL, would let one header hide another.
        return HttpProtocolError("malformed response head (bare CR/LF or NUL)")
    lines = head.split(b"\r\n")
    if not re.fullmatch(rb"HTTP/1\.[01] [0-9]{3}(?: .*)?", lines[0], re.DOTALL):
        return HttpProtocolError(f"malformed status line {lines[0][:80]!r}")
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            return HttpProtocolError("folded header line (obs-fold) in response")
        if not re.match(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:", line):
            return HttpProtocolError(f"malformed header line {line[:80]!r}")
    return HttpProtocolError("malformed response head")
