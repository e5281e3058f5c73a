"""Running the worker process under a deadline and collecting what it streams back."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infermedic.errors import InputError
from infermedic.profile.protocol import (
    Done,
    PhaseResult,
    PhaseStarted,
    Progress,
    WorkerFailure,
    WorkerNote,
    decode,
)
from infermedic.profile.results import ProfileResults
from infermedic.profile.supervise import TOKEN_VARIABLE, MemoryLimit, ProcessTree, new_token

ProgressCallback = Callable[[str, float], None]


@dataclass(kw_only=True)
class WorkerOutcome:
    """Everything the worker said, and how it ended."""

    results: ProfileResults = field(default_factory=ProfileResults)  # typed as they arrive
    notes: list[WorkerNote] = field(default_factory=list)
    failure: WorkerFailure | None = None
    finished: bool = False  # the worker said `done`
    timed_out: bool = False
    exit_code: int | None = None
    last_phase: str = "start"
    stderr_tail: str = ""
    wall_s: float = 0.0
    phase_started: dict[str, float] = field(default_factory=dict)  # seconds after spawn
    memory_limit_bytes: int | None = None
    memory_exceeded: bool = False  # the tree's resident memory passed the limit: killed
    peak_rss_bytes: int = 0  # the largest resident size of the tree the watchdog saw
    leftover_processes: int = 0  # processes the model started that were killed at the end


def run_worker(
    job: Mapping[str, Any],
    *,
    timeout_s: float,
    memory_limit: MemoryLimit | None = None,
    progress: ProgressCallback | None = None,
    cwd: str | None = None,
) -> WorkerOutcome:
    """Start `python -m infermedic.profile.worker`, feed it `job`, and end it, with every
    process it started, when it is done, at `timeout_s`, or when the tree's resident memory
    passes `memory_limit`."""
    started = time.monotonic()
    token = new_token()
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PYTHONWARNINGS", "ignore")
    env[TOKEN_VARIABLE] = token  # inherited by every descendant: found again at the end
    process = subprocess.Popen(
        [sys.executable, "-m", "infermedic.profile.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,  # its own session and group, apart from ours
    )
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    tree = ProcessTree(process.pid, token)
    outcome = WorkerOutcome()
    if memory_limit is not None:
        outcome.memory_limit_bytes = memory_limit.limit_bytes
    try:
        process.stdin.write(json.dumps(job).encode())
        process.stdin.close()
    except BrokenPipeError:
        pass
    streams = _Streams(process.stdout.fileno(), process.stderr.fileno())
    deadline = started + timeout_s
    next_refresh = 0.0
    while streams.open:
        now = time.monotonic()
        if now >= deadline:
            outcome.timed_out = True
            break
        if now >= next_refresh:
            tree.refresh()  # often enough to see children before they can slip away
            next_refresh = now + _REFRESH_S
        if memory_limit is not None:
            rss = tree.rss_bytes()
            outcome.peak_rss_bytes = max(outcome.peak_rss_bytes, rss)
            if rss > memory_limit.limit_bytes:
                outcome.memory_exceeded = True
                break
        for line in streams.read(min(_POLL_S, deadline - now)):
            _apply(outcome, line, progress)
        if outcome.finished:
            break
        if process.poll() is not None:
            # The worker is gone; a child it left may hold the pipes open, so take what is
            # already written and stop waiting for an end-of-file.
            for line in streams.read(0.2):
                _apply(outcome, line, progress)
            break
    if outcome.finished and not (outcome.timed_out or outcome.memory_exceeded):
        # let it exit by itself (atexit handlers, flushing), within the budget
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, min(2.0, deadline - time.monotonic())))
    outcome.leftover_processes = _end(process, tree)
    for line in streams.read(0.1):
        _apply(outcome, line, progress)
    streams.close()
    process.stdout.close()
    process.stderr.close()
    outcome.exit_code = process.returncode
    outcome.stderr_tail = streams.stderr_tail()[-2000:]
    outcome.wall_s = time.monotonic() - started
    outcome.phase_started = {k: v - started for k, v in outcome.phase_started.items()}
    return outcome


_POLL_S = 0.05  # how often the memory watchdog looks
_REFRESH_S = 0.5  # how often the process tree is walked (a /proc scan: a few ms)


def _end(process: subprocess.Popen[bytes], tree: ProcessTree) -> int:
    """Kill the worker and everything it started; the count of other processes killed."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    leftovers = tree.kill_all()
    process.wait()
    return leftovers


class _Streams:
    """The worker's stdout (protocol lines) and stderr (a tail kept), read without threads,
    so that a pipe held open by a stray child can never block the parent."""

    def __init__(self, stdout: int, stderr: int) -> None:
        self.stdout = stdout
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[int, bytearray] = {stdout: bytearray(), stderr: bytearray()}
        for fd in (stdout, stderr):
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ)
        self.tail: deque[str] = deque(maxlen=40)

    @property
    def open(self) -> bool:
        return bool(self.selector.get_map())

    def read(self, timeout: float) -> list[str]:
        """Protocol lines that arrived within `timeout` seconds."""
        lines: list[str] = []
        end = time.monotonic() + max(0.0, timeout)
        while self.open:
            ready = self.selector.select(max(0.0, end - time.monotonic()))
            if not ready:
                break
            for key, _events in ready:
                fd = int(key.fd)
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    self.selector.unregister(fd)
                    chunk = b"\n"  # flush a last line without its newline
                lines.extend(self._lines(fd, chunk))
            if time.monotonic() >= end:
                break
        return lines

    def _lines(self, fd: int, chunk: bytes) -> list[str]:
        buffer = self.buffers[fd]
        buffer.extend(chunk)
        *complete, rest = bytes(buffer).split(b"\n")
        if fd != self.stdout and len(rest) > _MAX_STDERR_LINE:
            complete.append(rest[:_MAX_STDERR_LINE])  # a model printing without newlines
            rest = b""
        self.buffers[fd] = bytearray(rest)
        texts = [c.decode("utf-8", errors="replace") for c in complete if c]
        if fd == self.stdout:
            return texts
        self.tail.extend(t[:_MAX_STDERR_LINE] + "\n" for t in texts)
        return []

    def stderr_tail(self) -> str:
        return "".join(self.tail)

    def close(self) -> None:
        self.selector.close()


_MAX_STDERR_LINE = 4000


def _apply(outcome: WorkerOutcome, line: str, progress: ProgressCallback | None) -> None:
    match decode(line):
        case PhaseStarted(name=name):
            outcome.last_phase = name
            outcome.phase_started[name] = time.monotonic()
        case PhaseResult(phase=phase, data=data):
            # The process boundary: a phase's JSON becomes its typed result here, or an
            # error note (a worker of another version), never a dict the rules look into.
            try:
                outcome.results = outcome.results.with_phase(phase, data)
            except InputError as exc:
                outcome.notes.append(WorkerNote(level="error", message=f"{phase}: {exc}"))
        case WorkerNote() as note:
            outcome.notes.append(note)
        case WorkerFailure() as failure:
            outcome.failure = failure
        case Done():
            outcome.finished = True
        case Progress(phase=phase, fraction=fraction) if progress is not None:
            progress(phase, fraction)
        case _:
            pass  # not ours: the protocol stream only carries protocol lines
