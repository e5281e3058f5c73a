"""Serve a fixed repo's app with a real server on 127.0.0.1 (port 0), always stopped:
uvicorn for ASGI apps, gunicorn for WSGI apps."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

_UVICORN = """
import socket, sys, uvicorn
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(128)
print(sock.getsockname()[1], flush=True)
config = uvicorn.Config(sys.argv[1], log_level="warning", access_log=False, lifespan="on")
uvicorn.Server(config).run(sockets=[sock])
"""
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def serve(root: Path, target: str, health: str, *, wsgi: bool) -> Iterator[str]:
    """Start `target` (`pkg.module:app`) from `root`; yield its URL once `health` is 200."""
    if wsgi:
        command = [sys.executable, "-m", "gunicorn", "-b", "127.0.0.1:0", "-w", "1", target]
    else:
        command = [sys.executable, "-c", _UVICORN, target]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    process = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stream = process.stderr if wsgi else process.stdout
        assert stream is not None
        port = None
        while port is None:
            line = stream.readline()
            if not line:
                raise RuntimeError(f"{target} exited: {process.communicate(timeout=30)}")
            found = _LISTENING.search(line) if wsgi else re.fullmatch(r"\d+\n", line)
            if found:
                port = int(found[1] if wsgi else line)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120  # a busy 2-core box imports sklearn slowly
        while True:
            try:
                if httpx.get(url + health, timeout=5.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{target} did not answer {health}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
