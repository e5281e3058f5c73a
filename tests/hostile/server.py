"""A hostile HTTP/1.1 server for probe's fault tests: a real process on a loopback address.

    python tests/hostile/server.py MODE [--host 127.0.0.1] [--scope all|post] [--ok-posts N]
                                        [--location URL] [--log FILE]

Prints its port on the first line of stdout, then serves until killed. Modes:

- `silent`: reads the request and never answers;
- `drip`: answers headers at once, then the body one byte a second;
- `endless`: answers a chunked body that never ends, as fast as the socket takes it;
- `redirect`: answers `307` to `--location` (another host or port);
- `reflect`: answers 200 with the request's headers as JSON, and implausible timing headers
  (`Server-Timing` inf/NaN/negative, a negative `x-queue-time`);
- `reset`: reads the request and resets the connection (RST);
- `record`: answers 200 `{}`; with `--log`, the "other host" a redirect must never reach.

`--scope post` keeps GETs well-behaved (health 200, others 404) and makes only POSTs hostile,
after the first `--ok-posts` POSTs, which get `200 {"prediction": [1]}`: the known-good
request works, the load meets the fault. `--log` appends one JSON line per request (method,
path, headers) so a test can tell what reached this server.

Standard library only, so it runs in any interpreter the tests use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
from typing import Any

HEALTH_PATHS = frozenset({"/health", "/healthz", "/livez", "/ping"})


class Hostile:
    def __init__(self, args: argparse.Namespace) -> None:
        self.mode: str = args.mode
        self.scope: str = args.scope
        self.ok_posts: int = args.ok_posts
        self.location: str = args.location or "http://127.0.0.2:9/"
        self.log: str | None = args.log
        self.posts = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                self.record(request)
                keep = await self.answer(request, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            if not writer.is_closing():
                writer.close()

    def record(self, request: dict[str, Any]) -> None:
        if self.log is None:
            return
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(request) + "\n")

    async def answer(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        method, path = request["method"], request["path"]
        if self.scope == "post" and method != "POST":
            status = 200 if path in HEALTH_PATHS else 404
            await send(writer, status, b'{"status": "ok"}' if status == 200 else b"{}")
            return True
        if method == "POST":
            self.posts += 1
            if self.posts <= self.ok_posts:
                await send(writer, 200, b'{"prediction": [1]}')
                return True
        mode = self.mode
        if mode == "record":
            await send(writer, 200, b"{}")
            return True
        if mode == "silent":
            await asyncio.sleep(3600)
            return False
        if mode == "drip":
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n"
            )
            writer.write(head.encode())
            await writer.drain()
            for _ in range(100000):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(1.0)
            return False
        if mode == "endless":
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            )
            writer.write(head.encode())
            chunk = b"x" * 65536
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            while True:
                writer.write(frame)
                await writer.drain()
        if mode == "redirect":
            await send(writer, 307, b"", extra={"Location": self.location})
            return True
        if mode == "reflect":
            body = json.dumps({"prediction": [1], "echo": request["headers"]}).encode()
            timing = {
                "Server-Timing": "inf;dur=inf, nan;dur=NaN, neg;dur=-5, good;dur=2",
                "x-queue-time": "-3",
            }
            await send(writer, 200, body, extra=timing)
            return True
        if mode == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        raise SystemExit(f"unknown mode {mode!r}")


async def read_request(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    line = await reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        await reader.readexactly(length)
    return {"method": method, "path": path.split("?", 1)[0], "headers": headers}


async def send(
    writer: asyncio.StreamWriter, status: int, body: bytes, *, extra: dict[str, str] | None = None
) -> None:
    reason = {200: "OK", 307: "Temporary Redirect", 404: "Not Found"}.get(status, "X")
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in (extra or {}).items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "mode", choices=["silent", "drip", "endless", "redirect", "reflect", "reset", "record"]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--scope", choices=["all", "post"], default="all")
    parser.add_argument("--ok-posts", type=int, default=0)
    parser.add_argument("--location", default=None)
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    hostile = Hostile(args)
    server = await asyncio.start_server(hostile.handle, args.host, 0)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
