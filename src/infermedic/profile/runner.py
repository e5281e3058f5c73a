"""Running the worker process under a deadline and collecting what it streams back."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

ProgressCallback = Callable[[str, float], None]


@dataclass(kw_only=True)
class WorkerOutcome:
    """Everything the worker said, and how it ended."""

    results: dict[str, Any] = field(default_factory=dict)
    notes: list[dict[str, str]] = field(default_factory=list)
    failure: dict[str, Any] | None = None
    finished: bool = False  # the worker said `done`
    timed_out: bool = False
    exit_code: int | None = None
    last_phase: str = "start"
    stderr_tail: str = ""
    wall_s: float = 0.0
    phase_started: dict[str, float] = field(default_factory=dict)  # seconds after spawn


def run_worker(
    job: Mapping[str, Any],
    *,
    timeout_s: float,
    progress: ProgressCallback | None = None,
    cwd: str | None = None,
) -> WorkerOutcome:
    """Start `python -m infermedic.profile.worker`, feed it `job`, kill it at `timeout_s`."""
    started = time.monotonic()
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONWARNINGS", "ignore")
    process = subprocess.Popen(
        [sys.executable, "-m", "infermedic.profile.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        cwd=cwd,
        env=env,
        start_new_session=True,  # a kill reaches the model's own child processes too
    )
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    events: queue.Queue[str | None] = queue.Queue()
    stderr_lines: deque[str] = deque(maxlen=40)
    readers = [
        threading.Thread(target=_pump, args=(process.stdout, events.put), daemon=True),
        threading.Thread(target=_drain, args=(process.stderr, stderr_lines), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        process.stdin.write(json.dumps(job))
        process.stdin.close()
    except BrokenPipeError:
        pass
    outcome = WorkerOutcome()
    deadline = started + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            outcome.timed_out = True
            break
        try:
            line = events.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            continue
        if line is None:
            break
        _apply(outcome, line, progress)
        if outcome.finished:
            break
    if outcome.timed_out or process.poll() is None:
        _kill(process, grace_s=0.0 if outcome.timed_out else 2.0)
    outcome.exit_code = process.wait()
    for reader in readers:
        reader.join(timeout=1.0)
    process.stdout.close()
    process.stderr.close()
    outcome.stderr_tail = "".join(stderr_lines)[-2000:]
    outcome.wall_s = time.monotonic() - started
    outcome.phase_started = {k: v - started for k, v in outcome.phase_started.items()}
    return outcome


def _apply(outcome: WorkerOutcome, line: str, progress: ProgressCallback | None) -> None:
    try:
        event = json.loads(line)
    except ValueError:
        return  # not ours: the protocol stream only carries JSON lines
    kind = event.get("event")
    if kind == "phase":
        outcome.last_phase = str(event.get("name"))
        outcome.phase_started[outcome.last_phase] = time.monotonic()
    elif kind == "result":
        outcome.results[str(event["phase"])] = event["data"]
    elif kind == "notification":
        outcome.notes.append({"level": str(event["level"]), "message": str(event["message"])})
    elif kind == "failure":
        outcome.failure = event
    elif kind == "done":
        outcome.finished = True
    elif kind == "progress" and progress is not None:
        progress(str(event["phase"]), float(event["fraction"]))


def _pump(stream: IO[str], put: Callable[[str | None], None]) -> None:
    for line in stream:
        put(line)
    put(None)


def _drain(stream: IO[str], lines: deque[str]) -> None:
    for line in stream:
        lines.append(line)


def _kill(process: subprocess.Popen[str], *, grace_s: float) -> None:
    if grace_s > 0:
        try:
            process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, 9)
    except (ProcessLookupError, PermissionError):
        process.kill()
