"""Start hostile servers (`server.py`) as real processes and run `infermedic` against them."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

SERVER = Path(__file__).with_name("server.py")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Hostile:
    url: str
    log: Path

    def requests(self) -> list[dict[str, Any]]:
        """Every request this server received (one JSON line each)."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@contextlib.contextmanager
def hostile(mode: str, log: Path, *args: str, host: str = "127.0.0.1") -> Iterator[Hostile]:
    process = subprocess.Popen(
        [sys.executable, str(SERVER), mode, "--host", host, "--log", str(log), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip():
            raise RuntimeError(f"hostile server {mode!r} did not start on {host}")
        yield Hostile(url=f"http://{host}:{int(line)}", log=log)
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mb: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "infermedic", *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.pop("INFERMEDIC_API_KEY", None)
    env.pop("INFERMEDIC_BEARER", None)
    return env


def run(*args: str, limit_s: float = 120.0) -> Run:
    """`infermedic ARGS` in a subprocess, killed past `limit_s`; its peak RSS is sampled."""
    started = time.monotonic()
    process = subprocess.Popen(
        command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        cwd=ROOT,
    )
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        with contextlib.suppress(psutil.Error):
            watched = psutil.Process(process.pid)
            while not done.is_set():
                rss = watched.memory_info().rss
                for child in watched.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        rss += child.memory_info().rss
                peak[0] = max(peak[0], rss / 1024 / 1024)
                done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, stderr = process.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"infermedic {' '.join(args)} ran past {limit_s:g} s") from None
    finally:
        done.set()
        sampler.join(timeout=5)
    return Run(
        returncode=process.returncode,
        stdout=stdout,
        stderr=stderr,
        wall_s=time.monotonic() - started,
        peak_rss_mb=peak[0],
    )


def assert_clean(result: Run) -> None:
    """No traceback, and any error is one `error:` line (plus an optional `hint:` line)."""
    assert "Traceback" not in result.output, result.output[-3000:]
    assert "Task exception was never retrieved" not in result.output, result.output[-3000:]
    if result.returncode == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines and lines[0].startswith("error: "), result.stderr
        assert all(line.startswith(("error: ", "hint: ")) for line in lines), result.stderr
