"""The load client's HTTP/1.1 response parser on recorded byte streams.

Every stream is fed whole, split at every byte boundary, and byte by byte: a parser that
only works when a response arrives in one read would pass a quick live test and fail under
load, when the kernel hands the bytes over in arbitrary pieces.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infermedic.probe.h1 import (
    HttpProtocolError,
    IncompleteResponse,
    Response,
    ResponseParser,
    ResponseTooLarge,
)

# What uvicorn (h11) sends for a FastAPI JSON answer, recorded.
UVICORN = (
    b"HTTP/1.1 200 OK\r\n"
    b"date: Wed, 02 Dec 2026 00:50:00 GMT\r\n"
    b"server: uvicorn\r\n"
    b"content-length: 11\r\n"
    b"content-type: application/json\r\n"
    b"server-timing: infer;dur=1.5, queue;dur=0.2\r\n"
    b"\r\n"
    b'{"ok":true}'
)
# A streaming answer (Starlette StreamingResponse): chunked, with extensions and trailers.
CHUNKED = (
    b"HTTP/1.1 200 OK\r\n"
    b"transfer-encoding: chunked\r\n"
    b"\r\n"
    b"5\r\nhello\r\n"
    b"7;ext=1\r\n, world\r\n"
    b"A\r\n0123456789\r\n"
    b"0\r\n"
    b"x-trailer: yes\r\n"
    b"\r\n"
)


def splits(data: bytes) -> Iterator[list[bytes]]:
    """The stream whole, cut in two at every byte, and one byte at a time."""
    yield [data]
    for cut in range(1, len(data)):
        yield [data[:cut], data[cut:]]
    yield [data[i : i + 1] for i in range(len(data))]


def parse(pieces: list[bytes], *, max_body: int = 1 << 20, head: bool = False) -> Response:
    parser = ResponseParser(max_body=max_body, keep_body=True)
    parser.start(head=head)
    done: Response | None = None
    for piece in pieces:
        got = parser.feed(piece)
        if got is not None:
            assert done is None, "two responses from one"
            done = got
    if done is None:
        done = parser.eof()
    assert done is not None
    return done


@pytest.mark.parametrize("stream", [UVICORN, CHUNKED], ids=["content-length", "chunked"])
def test_every_split_of_a_stream_parses_the_same(stream: bytes) -> None:
    results = [parse(pieces) for pieces in splits(stream)]
    first = results[0]
    assert first.status == 200 and first.keep_alive
    for result in results:
        assert (result.status, result.body, result.headers) == (
            first.status,
            first.body,
            first.headers,
        )


def test_content_length_body_and_headers() -> None:
    response = parse([UVICORN])
    assert response.body == b'{"ok":true}' and response.body_size == 11
    assert response.headers["server-timing"] == "infer;dur=1.5, queue;dur=0.2"
    assert response.reason == "OK"


def test_chunked_body_is_decoded_and_trailers_skipped() -> None:
    response = parse([CHUNKED])
    assert response.body == b"hello, world0123456789"
    assert response.body_size == 22
    assert "x-trailer" not in response.headers


def test_keep_alive_responses_follow_each_other_on_one_connection() -> None:
    parser = ResponseParser(max_body=1024, keep_body=True)
    stream = UVICORN + CHUNKED
    parser.start()
    first = parser.feed(stream)
    assert first is not None and first.body == b'{"ok":true}'
    assert parser.leftover == CHUNKED  # the next response waits for its request
    parser.start()
    second = parser.feed(b"")
    assert second is not None and second.body == b"hello, world0123456789"


@pytest.mark.parametrize("split", [1, 7, 40])
def test_a_body_until_close_ends_with_the_connection(split: int) -> None:
    stream = b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it"
    parser = ResponseParser(max_body=1024, keep_body=True)
    parser.start()
    assert parser.feed(stream[:split]) is None
    assert parser.feed(stream[split:]) is None
    response = parser.eof()
    assert response is not None and response.body == b"all of it"
    assert not response.keep_alive


def test_no_body_for_204_304_and_head() -> None:
    for status in (204, 304):
        response = parse([f"HTTP/1.1 {status} X\r\ncontent-length: 5\r\n\r\n".encode()])
        assert response.status == status and response.body == b""
    head = parse([b"HTTP/1.1 200 OK\r\ncontent-length: 999\r\n\r\n"], head=True)
    assert head.body_size == 0


def test_interim_1xx_answers_are_skipped() -> None:
    stream = b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n" + UVICORN
    for pieces in splits(stream):
        assert parse(pieces).status == 200


def test_redirect_is_a_response_like_any_other() -> None:
    stream = b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://x/\r\ncontent-length: 0\r\n\r\n"
    response = parse([stream])
    assert response.status == 307 and response.headers["location"] == "http://x/"


def test_connection_close_and_http10_keep_alive() -> None:
    closing = parse([b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"])
    assert not closing.keep_alive
    kept = parse([b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"])
    assert kept.keep_alive
    plain10 = parse([b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"])
    assert not plain10.keep_alive


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        # response splitting / header injection: a bare LF or CR hides a header in another
        (b"HTTP/1.1 200 OK\r\nx-a: 1\nset-cookie: evil\r\ncontent-length: 0\r\n\r\n", "bare"),
        (b"HTTP/1.1 200 OK\r\nx-a: 1\rset-cookie: evil\r\ncontent-length: 0\r\n\r\n", "bare"),
        (b"HTTP/1.1 200 OK\r\nx-a: 1\x00\r\ncontent-length: 0\r\n\r\n", "NUL"),
        (b"HTTP/1.1 200 OK\r\nx-a: 1\r\n  folded\r\ncontent-length: 0\r\n\r\n", "obs-fold"),
        (b"HTTP/1.1 200 OK\r\nbad name: 1\r\ncontent-length: 0\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 200 OK\r\nno-colon\r\n\r\n", "malformed header"),
        # bad framing
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello", "conflicting"),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
            "both Transfer-Encoding and Content-Length",
        ),
        (b"HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 0x10\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-1\r\n", "invalid chunk size"),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcXY",
            "not followed by CRLF",
        ),
        (b"HTTP/2 200 OK\r\ncontent-length: 0\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 20 OK\r\ncontent-length: 0\r\n\r\n", "malformed status line"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "malformed status line"),
    ],
)
def test_bad_responses_are_errors_at_every_split(stream: bytes, message: str) -> None:
    for pieces in splits(stream):
        with pytest.raises(HttpProtocolError, match=message):
            parse(pieces)


def test_a_declared_length_over_the_cap_fails_before_the_body() -> None:
    parser = ResponseParser(max_body=10)
    parser.start()
    with pytest.raises(ResponseTooLarge, match="11 bytes is over the 10-byte cap"):
        parser.feed(UVICORN[: UVICORN.index(b"\r\n\r\n") + 4])


def test_a_body_over_the_cap_keeps_the_status_of_its_head() -> None:
    parser = ResponseParser(max_body=10)
    parser.start()
    with pytest.raises(ResponseTooLarge) as declared:
        parser.feed(b"HTTP/1.1 422 Unprocessable Entity\r\ncontent-length: 50\r\n\r\n")
    assert declared.value.status == 422
    parser = ResponseParser(max_body=10)
    parser.start()
    parser.feed(b"HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\n\r\n")
    with pytest.raises(ResponseTooLarge) as received:
        parser.feed(b"x" * 11)
    assert received.value.status == 500


@pytest.mark.parametrize("cap", [1, 5, 21])
def test_a_chunked_body_over_the_cap_fails_at_the_cap(cap: int) -> None:
    for pieces in splits(CHUNKED):
        with pytest.raises(ResponseTooLarge):
            parse(pieces, max_body=cap)
    assert parse([CHUNKED], max_body=22).body_size == 22  # exactly at the cap is fine


def test_an_endless_body_until_close_fails_at_the_cap() -> None:
    parser = ResponseParser(max_body=1000)
    parser.start()
    parser.feed(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
    with pytest.raises(ResponseTooLarge):
        for _ in range(100):
            parser.feed(b"x" * 64)


def test_an_endless_head_or_chunk_line_is_bounded() -> None:
    parser = ResponseParser(max_body=1000, max_head=256)
    parser.start()
    with pytest.raises(HttpProtocolError, match="head over 256"):
        for _ in range(100):
            parser.feed(b"x-pad: " + b"a" * 30 + b"\r\n")
    chunk = ResponseParser(max_body=10_000)
    chunk.start()
    chunk.feed(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    with pytest.raises(HttpProtocolError, match="chunk-size line too long"):
        chunk.feed(b"1;" + b"e" * 2000)


def test_a_connection_closed_early_is_an_incomplete_response() -> None:
    for cut in (0, 10, len(UVICORN) - 1):
        parser = ResponseParser(max_body=1024)
        parser.start()
        parser.feed(UVICORN[:cut])
        with pytest.raises(IncompleteResponse) as caught:
            parser.eof()
        assert ("without a response" in str(caught.value)) == (cut == 0)


def test_a_repeated_head_parses_the_same_from_the_cache() -> None:
    """Under load the same head comes back again and again: the second parse of each comes
    from the head cache and must equal the first, at every split, HEAD or not."""
    shared: dict[Any, Any] = {}
    for stream in (UVICORN, CHUNKED):
        for pieces in splits(stream):
            parser = ResponseParser(max_body=1 << 20, keep_body=True, head_cache=shared)
            results = []
            for _ in range(3):
                parser.start()
                done = None
                for piece in pieces:
                    done = parser.feed(piece) or done
                assert done is not None
                results.append((done.status, done.body, dict(done.headers), done.keep_alive))
            assert results[0] == results[1] == results[2]
    assert len(shared) == 2  # one entry per distinct head
    head = ResponseParser(max_body=1 << 20, keep_body=True, head_cache=shared)
    head.start(head=True)
    answer = head.feed(UVICORN[: UVICORN.index(b"\r\n\r\n") + 4])
    assert answer is not None and answer.body_size == 0  # a HEAD's head is its own entry
