"""Run a written demo scenario as a real uvicorn server in its own process on 127.0.0.1.

```python
with running_scenario("blocking-predict") as service:
    httpx.post(service.url + "/predict", json=body)
```

The server is a subprocess, not a thread, so that a probe sees what it sees in production: a
separate process with its own memory, threads and interpreter lock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from infermedic.demo.repository import write_scenario
from infermedic.demo.scenarios import (
    SCENARIO_FILE,
    Scenario,
    get_scenario,
    read_scenario_metadata,
)
from infermedic.errors import EngineUnavailable, InputError

__all__ = ["RunningService", "running_scenario", "serving_directory"]

HOST = "127.0.0.1"
DEFAULT_STARTUP_TIMEOUT_S = 60.0
DEFAULT_STOP_TIMEOUT_S = 10.0
_POLL_INTERVAL_S = 0.1
_STDERR_TAIL_CHARS = 3000
SERVER_LOG = "server.log"  # uvicorn's output; kept out of the prediction log directory


@dataclass(frozen=True, kw_only=True)
class RunningService:
    """A scenario service that is up: its base URL, process id and repository."""

    scenario: Scenario
    directory: Path
    url: str
    port: int
    pid: int
    server_log: Path

    @property
    def prediction_log_dir(self) -> Path:
        """Where the service writes its prediction log (JSON lines)."""
        return self.directory / self.scenario.prediction_log_dir

    @property
    def reference_path(self) -> Path:
        return self.directory / self.scenario.reference_path

    def endpoint(self, path: str) -> str:
        """The absolute URL of `path` on this service (`endpoint("/predict")`)."""
        return self.url + path


@contextlib.contextmanager
def running_scenario(
    name: str | Scenario,
    directory: Path | str | None = None,
    port: int = 0,
    *,
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
) -> Iterator[RunningService]:
    """Write scenario `name` (to a temporary directory when `directory` is None), serve it.

    Yields once the readiness endpoint answers 200; on exit the server is stopped (SIGTERM,
    then SIGKILL after `stop_timeout_s`) and the port is free. A temporary directory is
    removed afterwards; a given `directory` is kept, prediction logs included.
    """
    scenario = get_scenario(name)
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = stack.enter_context(
                tempfile.TemporaryDirectory(prefix=f"infermedic-demo-{scenario.name}-")
            )
        root = write_scenario(scenario, directory)
        with serving_directory(
            root,
            port,
            env=env,
            startup_timeout_s=startup_timeout_s,
            stop_timeout_s=stop_timeout_s,
        ) as service:
            yield service


@contextlib.contextmanager
def serving_directory(
    directory: Path | str,
    port: int = 0,
    *,
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
) -> Iterator[RunningService]:
    """Serve an already written scenario repository (see `running_scenario`)."""
    root = Path(directory).resolve()
    scenario = get_scenario(str(read_scenario_metadata(root).get("name", "")))
    listener = _listening_socket(port)
    bound_port = int(listener.getsockname()[1])
    server_log = root / SERVER_LOG
    command = [
        sys.executable,
        "-m",
        # The parent binds the socket and hands it over, so the port is known without a
        # bind-then-close race against other processes picking free ports.
        "infermedic.demo.launch",
        str(listener.fileno()),
        "app.main:app",
        str(max(1, int(stop_timeout_s / 2))),
    ]
    child_env = {
        **os.environ,
        **dict(scenario.env),
        "PREDICTION_LOG_DIR": str(root / scenario.prediction_log_dir),
        **(env or {}),
    }
    with server_log.open("ab") as log_file:
        try:
            process = subprocess.Popen(
                command,
                cwd=root,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
                # Its own session: a Ctrl-C in the terminal reaches us, and we stop it in order.
                start_new_session=True,
            )
        except OSError as exc:
            listener.close()
            raise EngineUnavailable(f"cannot start the demo server: {exc}") from exc
    listener.close()
    service = RunningService(
        scenario=scenario,
        directory=root,
        url=f"http://{HOST}:{bound_port}",
        port=bound_port,
        pid=process.pid,
        server_log=server_log,
    )
    try:
        _wait_until_ready(process, service, startup_timeout_s)
        yield service
    finally:
        _stop(process, stop_timeout_s)


def _listening_socket(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise InputError(
            f"cannot listen on {HOST}:{port}: {exc}", hint="choose another --port, or 0"
        ) from exc
    listener.set_inheritable(True)
    return listener


def _wait_until_ready(
    process: subprocess.Popen[bytes], service: RunningService, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    readiness = service.endpoint(service.scenario.readiness_path)
    last_status = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EngineUnavailable(
                    f"demo server {service.scenario.name!r} exited with code "
                    f"{process.returncode} before it was ready:\n{_tail(service.server_log)}",
                    hint=f"run it by hand: cd {service.directory} && "
                    "python -m uvicorn app.main:app",
                )
            try:
                response = client.get(readiness)
            except httpx.TransportError as exc:
                last_status = type(exc).__name__
            else:
                if response.status_code == 200:
                    return
                last_status = f"HTTP {response.status_code}"
            time.sleep(_POLL_INTERVAL_S)
    _stop(process, DEFAULT_STOP_TIMEOUT_S)
    raise EngineUnavailable(
        f"demo server {service.scenario.name!r} was not ready within {timeout_s:.0f} s "
        f"({readiness}: {last_status}):\n{_tail(service.server_log)}",
        hint="the machine may be busy; raise startup_timeout_s",
    )


def _stop(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            # The server ignored SIGTERM; its session holds only what it started.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout_s)


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return text[-_STDERR_TAIL_CHARS:] or "(the server wrote nothing)"


def is_scenario_directory(directory: Path | str) -> bool:
    """Whether `directory` holds a written scenario (a `scenario.json`)."""
    return (Path(directory) / SCENARIO_FILE).is_file()
