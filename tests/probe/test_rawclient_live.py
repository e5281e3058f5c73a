"""The load path's raw HTTP/1.1 client against real servers on 127.0.0.1: uvicorn (FastAPI)
and the hostile servers of tests/hostile (silent, drip, endless, redirect, reset).

Live tests check that each behaviour shows, with wide time bounds; the framing itself is
tested byte by byte in test_h1_parser.py.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop

from infermedic.probe.loadgen import BODY_OVER_CAP, SendResult, closed_loop, open_loop
from infermedic.probe.rawclient import RawSender, build_request
from tests.hostile.harness import hostile
from tests.probe.servers import Served, serve

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def app() -> Iterator[Served]:
    with serve("tests.probe.raw_app:app") as served:
        yield served


def send_all(sender: RawSender, times: int = 1) -> list[SendResult]:
    async def go() -> list[SendResult]:
        async with sender:
            return [await sender() for _ in range(times)]

    return uvloop.run(go())


def test_a_post_reaches_uvicorn_with_its_headers_and_keeps_the_connection(app: Served) -> None:
    sender = RawSender(
        app.url + "/echo",
        body=b'{"x": 1}',
        headers={"X-Api-Key": "k3y"},
        connections=4,
    )
    results = send_all(sender, times=20)
    assert [r.status for r in results] == [200] * 20
    assert results[0].timing == {"server-timing": "infer;dur=2.5, queue;dur=0.5"}
    # One connection carried all 20 (keep-alive), never more than the cap.
    assert sender.client.opened == 1


def test_the_server_receives_host_credentials_and_the_body(tmp_path: Path) -> None:
    with hostile("record", tmp_path / "server.log") as server:
        sender = RawSender(
            server.url + "/predict?v=2", body=b'{"x": 1}', headers={"X-Api-Key": "k3y"}
        )
        assert [r.status for r in send_all(sender, times=2)] == [200, 200]
        seen = server.requests()
    assert [(r["method"], r["path"]) for r in seen] == [("POST", "/predict")] * 2
    headers = seen[0]["headers"]
    assert headers["host"] == server.url.removeprefix("http://")
    assert headers["x-api-key"] == "k3y"
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == "8"


def test_chunked_content_length_close_and_redirect_from_uvicorn(app: Served) -> None:
    streamed = send_all(RawSender(app.url + "/stream", method="GET"), times=3)
    assert [r.status for r in streamed] == [200] * 3
    big = send_all(RawSender(app.url + "/big", method="GET", max_body=400_000), times=2)
    assert [r.status for r in big] == [200, 200]
    capped = send_all(RawSender(app.url + "/big", method="GET", max_body=1000))
    assert capped[0] == SendResult(0, error=BODY_OVER_CAP)
    closing = RawSender(app.url + "/close", method="GET")
    assert [r.status for r in send_all(closing, times=3)] == [200] * 3
    assert closing.client.opened == 3  # `connection: close` answers are never reused
    # A redirect is reported as the 307 it is, never followed.
    assert send_all(RawSender(app.url + "/away", method="GET"))[0].status == 307


def test_the_closed_and_open_loops_run_on_the_raw_client(app: Served) -> None:
    async def go() -> tuple[int, int, float | None]:
        async with RawSender(app.url + "/echo", body=b"{}", connections=8) as sender:
            step = await closed_loop(
                sender, concurrency=8, window_s=0.5, max_duration_s=2.0, until_stable=False
            )
            recorder = await open_loop(sender, rate=50.0, duration_s=1.0)
        assert step.generator is not None and recorder.generator is not None
        return step.requests, recorder.requests, recorder.generator.cpu_fraction

    closed, opened, cpu = uvloop.run(go())
    assert closed > 0 and opened == 50
    assert cpu is not None and cpu > 0.0  # the generator measured its own CPU


def test_a_stale_keep_alive_connection_is_retried_once(tmp_path: Path) -> None:
    """A server that closes idle keep-alive connections without saying so: the next request
    on the dead connection is sent again on a fresh one, and succeeds."""
    script = tmp_path / "idle_closer.py"
    script.write_text(IDLE_CLOSER)
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())

        async def go() -> list[int]:
            async with RawSender(f"http://127.0.0.1:{port}/x", method="GET") as sender:
                first = await sender()
                await asyncio.sleep(0.6)  # the server has closed the idle connection by now
                second = await sender()
                return [first.status, second.status]

        assert uvloop.run(go()) == [200, 200]
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


IDLE_CLOSER = """
import asyncio
async def handle(reader, writer):
    await reader.readuntil(b"\\r\\n\\r\\n")
    writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\n{}")
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()  # idle keep-alive closed without `connection: close`
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("silent", "timeout"),
        ("drip", "timeout"),
        ("endless", BODY_OVER_CAP),
        ("reset", None),  # a connection error of some kind
    ],
)
def test_hostile_servers_end_each_request_within_its_deadline(
    mode: str, expected: str | None, tmp_path: Path
) -> None:
    with hostile(mode, tmp_path / "server.log") as server:
        sender = RawSender(server.url + "/predict", body=b"{}", timeout_s=1.0, max_body=1 << 20)
        started = time.monotonic()
        results = send_all(sender, times=3)
        elapsed = time.monotonic() - started
        assert server.requests(), "the server saw no request: the test proves nothing"
    assert all(r.status == 0 for r in results)
    if expected is not None:
        assert all(r.error == expected for r in results)
    else:
        assert all(r.error for r in results)
    assert elapsed < 30  # 3 requests × 1 s deadline, with room for a busy machine


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("silent", "timeout"), ("endless", BODY_OVER_CAP), ("reset", None)],
)
def test_the_loops_callback_path_reports_the_same_errors(
    mode: str, expected: str | None, tmp_path: Path
) -> None:
    """`fire` (the loops' path, no future per request) ends each request within its deadline
    and answers with a `SendResult`, as `sender()` does; a closed client answers too."""

    async def go(url: str) -> tuple[list[SendResult], SendResult]:
        got: list[SendResult] = []
        three = asyncio.Event()

        def landed(result: SendResult) -> None:
            got.append(result)
            if len(got) == 3:
                three.set()

        sender = RawSender(url + "/predict", body=b"{}", timeout_s=1.0, max_body=1 << 20)
        async with sender:
            for _ in range(3):
                sender.fire(landed)
            await asyncio.wait_for(three.wait(), 30)
        after: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        sender.fire(after.set_result)  # the client is closed now
        return got, await asyncio.wait_for(after, 5)

    with hostile(mode, tmp_path / "server.log") as server:
        results, closed = uvloop.run(go(server.url))
        assert server.requests(), "the server saw no request: the test proves nothing"
    assert all(r.status == 0 for r in results)
    assert all(r.error == expected for r in results) if expected else all(r.error for r in results)
    assert closed.status == 0 and closed.error == "ConnectionError"


def test_a_redirect_is_counted_and_the_other_host_gets_nothing(tmp_path: Path) -> None:
    with (
        hostile("record", tmp_path / "other.log", host="127.0.0.2") as other,
        hostile("redirect", tmp_path / "target.log", "--location", other.url + "/x") as target,
    ):
        sender = RawSender(target.url + "/predict", body=b"{}", headers={"X-Api-Key": "k3y"})
        results = send_all(sender, times=5)
        reached = target.requests()
        assert other.requests() == []
    assert [r.status for r in results] == [307] * 5
    assert all(r["headers"].get("x-api-key") == "k3y" for r in reached)
    assert all(r["headers"]["host"] == target.url.removeprefix("http://") for r in reached)


def test_requests_that_could_inject_a_header_are_refused() -> None:
    for headers in ({"X-Api-Key": "a\r\nX-Evil: 1"}, {"Bad Name": "x"}, {"X": "a\x00b"}):
        with pytest.raises(ValueError):
            build_request("http://127.0.0.1:9/p", "POST", b"{}", headers)
    with pytest.raises(ValueError):
        build_request("https://127.0.0.1:9/p", "POST", b"{}", {})
    # framing headers are the client's own, whatever the caller passes
    _, _, request = build_request(
        "http://h:8080/p?q=1", "POST", b"{}", {"Content-Length": "99", "Host": "evil"}
    )
    assert b"Content-Length: 99" not in request and b"Host: evil" not in request
    assert request.startswith(b"POST /p?q=1 HTTP/1.1\r\nHost: h:8080\r\n")
    assert json.loads(request.split(b"\r\n\r\n", 1)[1]) == {}
