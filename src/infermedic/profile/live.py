"""`sample_process`: where a running service's time goes, from py-spy stack samples.

Running py-spy is `pyspy.py`; judging what it recorded is `live_verdicts.py`.

Two py-spy recorders run side by side (`--nonblocking`, so neither pauses the service): one
with idle threads and one without. Their difference is the time a thread spent off CPU
(sleep, blocking I/O, a lock, the GIL), which a single recording cannot tell from work.
`attribution` turns the two recordings into per-thread counts and the places that hold the
event loop, the PROF013/PROF014 rules judge them, and this module runs py-spy, drives the
load, and says what could not be judged.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infermedic.errors import InputError
from infermedic.model import Location, Report
from infermedic.profile.attribution import summarise
from infermedic.profile.config import thresholds_from_options
from infermedic.profile.live_results import LiveSummary
from infermedic.profile.live_verdicts import judge_live, live_tables
from infermedic.profile.pyspy import (
    check_traceable,
    failure_hint,
    find_py_spy,
    py_spy_reason,
    record,
)
from infermedic.profile.stacks import parse_raw
from infermedic.settings import Settings


def _drive_load(url: str, body: bytes | None, stop: threading.Event, stats: dict[str, Any]) -> None:
    """Closed-loop requests to `url` (the user's own service) until `stop` is set."""
    import httpx

    from infermedic.probe.http import send_sync

    # The probe's limits: no redirect followed, a total deadline, a capped body.
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                if body is None:
                    status, _ = send_sync(client, "GET", url)
                else:
                    headers = {"content-type": "application/json"}
                    status, _ = send_sync(client, "POST", url, content=body, headers=headers)
                stats["requests"] += 1
                if not 200 <= status < 300:  # a redirect (never followed) is no answer either
                    stats["errors"] += 1
            except httpx.HTTPError:
                stats["errors"] += 1
                time.sleep(0.05)
            stats["latencies"].append(time.perf_counter() - started)


def sample_process(
    pid: int,
    *,
    duration: float = 10.0,
    rate: int = 100,
    url: str | None = None,
    body: bytes | None = None,
    concurrency: int = 4,
    settings: Settings | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Report:
    """Sample `pid`'s stacks for `duration` seconds (while driving load at `url`, if given)."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    begin = time.monotonic()
    settings = settings or Settings()
    thresholds = thresholds_from_options(settings.options_for_engine("profile"))
    check_traceable(pid)
    py_spy = find_py_spy()
    stop = threading.Event()
    load_stats: dict[str, Any] = {"requests": 0, "errors": 0, "latencies": []}
    drivers = [
        threading.Thread(target=_drive_load, args=(url, body, stop, load_stats), daemon=True)
        for _ in range(concurrency if url else 0)
    ]
    for driver in drivers:
        driver.start()
    with tempfile.TemporaryDirectory(prefix="infermedic-pyspy-") as scratch:
        all_path = Path(scratch) / "all.txt"
        active_path = Path(scratch) / "active.txt"
        recorders = [
            record(py_spy, pid, duration, rate, True, all_path),
            record(py_spy, pid, duration, rate, False, active_path),
        ]
        try:
            outputs = []
            for recorder in recorders:
                try:
                    out, _ = recorder.communicate(timeout=duration + 20)
                except subprocess.TimeoutExpired:
                    recorder.kill()
                    out, _ = recorder.communicate()
                    raise InputError(f"py-spy did not finish sampling PID {pid}") from None
                outputs.append((recorder.returncode, out))
        finally:
            stop.set()
            for driver in drivers:
                driver.join(timeout=12)
            for recorder in recorders:
                if recorder.poll() is None:
                    recorder.kill()
                recorder.wait()
                # a recorder never read (the other one timed out) still holds its pipe
                if recorder.stdout is not None:
                    recorder.stdout.close()
        for returncode, out in outputs:
            if returncode != 0:
                raise InputError(
                    f"py-spy cannot sample PID {pid}: {py_spy_reason(out)}", hint=failure_hint(out)
                )
        all_samples = parse_raw(all_path.read_text(encoding="utf-8", errors="replace"))
        active = parse_raw(active_path.read_text(encoding="utf-8", errors="replace"))
    if progress is not None:
        progress("sampled", 1.0)
    latencies = sorted(load_stats["latencies"])
    # the boundary: the counted samples become the typed summary the rules and tables read
    summary = LiveSummary.from_summary(
        {
            **summarise(all_samples, active, root=_working_directory(pid)),
            "load": {
                "url": url,
                "requests": load_stats["requests"],
                "errors": load_stats["errors"],
                "median_latency_s": latencies[len(latencies) // 2] if latencies else None,
                "concurrency": concurrency if url else 0,
            },
            "duration_s": duration,
            "rate_hz": rate,
            "child_pids": _children(pid),
        }
    )
    location = Location(url=url, endpoint=f"PID {pid}") if url else Location(endpoint=f"PID {pid}")
    action = f"py-spy record --pid {pid} --duration {duration:g} --rate {rate} --idle --threads"
    judged = judge_live(
        summary,
        thresholds,
        location=location,
        action=action,
        select=settings.select,
        ignore=settings.ignore,
    )
    return Report(
        tool="profile",
        findings=judged.findings,
        notifications=judged.notifications,
        rules_run=judged.rules_run,
        inputs=tuple(x for x in (f"PID {pid}", url) if x),
        tables=live_tables(summary),
        measurements={**judged.status(), "live": summary.to_dict()},
        started_at=started_at,
        duration_s=time.monotonic() - begin,
    )


def _children(pid: int) -> list[int]:
    """The process's children: a gunicorn or uvicorn `--workers` parent serves nothing itself."""
    import psutil

    try:
        return sorted(child.pid for child in psutil.Process(pid).children())
    except psutil.Error:
        return []


def _working_directory(pid: int) -> str | None:
    """The service's working directory (its files are shown relative to it), if readable."""
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
