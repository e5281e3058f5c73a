"""A real MLflow tracking server (SQLite backend, local artifact root) on 127.0.0.1, shared
by the live registry tests, and a helper that starts a small real service."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# Under load (6 on 2 cores) the server's first start (database migrations) takes a minute.
SERVER_DEADLINE_S = 300.0
SERVICE_DEADLINE_S = 180.0
QUIET_MLFLOW = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


@contextlib.contextmanager
def thread_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A plain http.server on 127.0.0.1 in a thread, answering with `handler`; its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`infermedic ARGS` in `cwd`, with its own model cache and no MLFLOW_TRACKING_URI (every
    command in these tests names its server itself)."""
    env = {
        **os.environ,
        **QUIET_MLFLOW,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "INFERMEDIC_CACHE_DIR": str(cwd / "cache"),  # never the user's own cache
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "infermedic", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], deadline_s: float, log: Path) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=3.0).status_code == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{url} did not become ready in {deadline_s:.0f} s:\n{tail}")
        time.sleep(0.5)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the whole process group the test started (the server's workers included)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def started(
    command: list[str], *, cwd: Path, ready: str, env: dict[str, str], deadline_s: float
) -> Iterator[subprocess.Popen[bytes]]:
    log = cwd / f"server-{int(time.time() * 1000)}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait(ready, process, deadline_s, log)
        yield process
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a fresh `mlflow server` (the full mlflow package: the `registry` extra)."""
    executable = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    if executable is None:
        pytest.fail("the `mlflow` command is missing: pip install -e '.[registry]'")
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    command = [
        executable, "server",
        "--backend-store-uri", f"sqlite:///{root / 'registry.db'}",
        "--default-artifact-root", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **QUIET_MLFLOW}
    with started(command, cwd=root, ready=f"{url}/health", env=env, deadline_s=SERVER_DEADLINE_S):
        yield url
