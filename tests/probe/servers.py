"""Run an ASGI app under a real uvicorn in a subprocess on 127.0.0.1 (port 0), always stopped."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

LAUNCH = """
import socket, sys, uvicorn
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(128)
print(sock.getsockname()[1], flush=True)
config = uvicorn.Config(sys.argv[1], log_level="warning", access_log=False)
uvicorn.Server(config).run(sockets=[sock])
"""


@dataclass(frozen=True)
class Served:
    url: str
    pid: int


@contextlib.contextmanager
def serve(app: str = "tests.probe.live_app:app", ready_path: str = "/livez") -> Iterator[Served]:
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, app], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + ready_path, timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("test server did not start")
            time.sleep(0.05)
        yield Served(url=url, pid=process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
