"""`sample_process`: where a running service's time goes, from py-spy stack samples.

Two py-spy recorders run side by side (`--nonblocking`, so neither pauses the service): one
with idle threads and one without. Their difference is the time a thread spent off CPU
(sleep, blocking I/O, a lock, the GIL), which a single recording cannot tell from work.
`attribution` turns the two recordings into per-thread counts and the places that hold the
event loop, the PROF013/PROF014 rules judge them, and this module runs py-spy, drives the
load, and says what could not be judged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infermedic.errors import EngineUnavailable, InputError
from infermedic.model import Finding, Location, Notification, NotificationLevel, Report, Table
from infermedic.profile.attribution import (
    ShareTest,
    busiest_other_thread,
    on_cpu_work,
    share_test,
    summarise,
    wilson_interval,
)
from infermedic.profile.config import ProfileThresholds, thresholds_from_options
from infermedic.profile.context import ProfileContext
from infermedic.profile.stacks import (
    AWAITING,
    BLOCKING,
    FRAMEWORK,
    LOCK,
    MODEL,
    OTHER,
    PREPROCESSING,
    SERIALISATION,
    Frame,
    Stack,
    classify,
    is_own_code,
    parse_frame,
    parse_raw,
)
from infermedic.settings import Settings

# The loop thread off CPU (not in its selector) in at least this share of its samples, while
# another thread was on CPU in at least as many, is reported as starved of the GIL.
_STARVED_SHARE = 0.1

# The names stage sampling and older callers import from here.
__all__ = [
    "AWAITING",
    "BLOCKING",
    "FRAMEWORK",
    "LOCK",
    "MODEL",
    "OTHER",
    "PREPROCESSING",
    "SERIALISATION",
    "Frame",
    "Stack",
    "check_traceable",
    "classify",
    "find_py_spy",
    "is_own_code",
    "judge",
    "live_notes",
    "live_tables",
    "parse_frame",
    "parse_raw",
    "py_spy_reason",
    "record",
    "sample_process",
    "summarise",
]


def find_py_spy() -> str:
    candidates = [shutil.which("py-spy"), str(Path(sys.executable).parent / "py-spy")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise EngineUnavailable(
        "py-spy is not installed", hint="pip install py-spy (it samples a process from outside)"
    )


def check_traceable(pid: int) -> None:
    """A clear error for a PID that does not exist or that this user may not trace."""
    if pid <= 0:
        raise InputError(f"PID {pid} is not a process id")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise InputError(f"no process with PID {pid}") from None
    except PermissionError:
        raise InputError(
            f"PID {pid} belongs to another user and cannot be traced",
            hint="run infermedic as that user, or with sudo",
        ) from None
    _check_python(pid)
    scope_file = Path("/proc/sys/kernel/yama/ptrace_scope")
    if scope_file.is_file() and os.geteuid() != 0:
        scope = scope_file.read_text().strip()
        if scope in {"1", "2", "3"}:
            note = {
                "1": "only a parent may trace its children",
                "2": "only root may trace",
                "3": "tracing is disabled",
            }
            raise InputError(
                f"cannot trace PID {pid}: kernel.yama.ptrace_scope={scope} ({note[scope]})",
                hint="run with sudo, or `sysctl kernel.yama.ptrace_scope=0`; in a container "
                "add the SYS_PTRACE capability",
            )


def _check_python(pid: int) -> None:
    """A clear error for a process that runs no Python interpreter (a shell, a process
    manager, a native server): py-spy would fail on it with an internal error line."""
    proc = Path(f"/proc/{pid}")
    try:
        exe = os.path.basename(os.readlink(proc / "exe"))
        maps = (proc / "maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return  # not Linux, or not readable: py-spy will say what it can
    if "python" in exe.lower() or "libpython" in maps:
        return
    raise InputError(
        f"PID {pid} ({exe}) is not a Python process",
        hint="give the PID of the service's Python process, e.g. `pgrep -f uvicorn`; behind "
        "gunicorn, one worker's PID (`pgrep -P MASTER_PID`), not a shell or wrapper",
    )


def record(
    py_spy: str,
    pid: int,
    duration: float,
    rate: int,
    idle: bool,
    out: Path,
    *,
    nonblocking: bool = True,
) -> subprocess.Popen[str]:
    """`py-spy record` of `pid` in its raw format, per thread, with full file names.

    Non-blocking reads a running service without pausing it; blocking (py-spy pauses the
    process for each sample) reads consistent stacks of short calls."""
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--threads",
        "--full-filenames",
        "--output",
        str(out),
    ]
    if nonblocking:
        command.append("--nonblocking")
    if idle:
        command.append("--idle")
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )


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
        for returncode, out in outputs:
            if returncode != 0:
                raise InputError(
                    f"py-spy cannot sample PID {pid}: {py_spy_reason(out)}", hint=_hint(out)
                )
        all_samples = parse_raw(all_path.read_text(encoding="utf-8", errors="replace"))
        active = parse_raw(active_path.read_text(encoding="utf-8", errors="replace"))
    if progress is not None:
        progress("sampled", 1.0)
    summary = summarise(all_samples, active, root=_working_directory(pid))
    latencies = sorted(load_stats["latencies"])
    summary["load"] = {
        "url": url,
        "requests": load_stats["requests"],
        "errors": load_stats["errors"],
        "median_latency_s": latencies[len(latencies) // 2] if latencies else None,
        "concurrency": concurrency if url else 0,
    }
    summary["duration_s"] = duration
    summary["rate_hz"] = rate
    summary["child_pids"] = _children(pid)
    location = Location(url=url, endpoint=f"PID {pid}") if url else Location(endpoint=f"PID {pid}")
    action = f"py-spy record --pid {pid} --duration {duration:g} --rate {rate} --idle --threads"
    findings, notes = judge(summary, thresholds, location=location, action=action)
    return Report(
        tool="profile",
        findings=tuple(findings),
        notifications=tuple(notes),
        rules_run=("PROF013", "PROF014"),
        inputs=tuple(x for x in (f"PID {pid}", url) if x),
        tables=live_tables(summary),
        measurements={"live": summary},
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


def judge(
    summary: Mapping[str, Any], thresholds: ProfileThresholds, *, location: Location, action: str
) -> tuple[list[Finding], list[Notification]]:
    """The findings of PROF013 and PROF014 on a summary, and what could not be judged. A
    recorded summary replays through here without a service."""
    from infermedic.profile.rules.lock_contention import LockContention
    from infermedic.profile.rules.work_in_event_loop_thread import WorkInEventLoopThread

    context = ProfileContext(
        results={"live": summary}, thresholds=thresholds, location=location, action=action
    )
    findings = [*WorkInEventLoopThread().check(context), *LockContention().check(context)]
    return findings, live_notes(summary, thresholds)


def live_notes(summary: Mapping[str, Any], thresholds: ProfileThresholds) -> list[Notification]:
    """What a reader must know to trust the verdicts: readings without the power to judge,
    and a loop starved by other threads rather than busy itself."""
    notes = [
        Notification(
            level=NotificationLevel.NOTE,
            message=(
                "samples are classified by their innermost recognised frame; garbage "
                "collection and native code are not visible without --native, so their time "
                "counts toward the Python frame that triggered them"
            ),
        )
    ]
    threads = summary.get("threads", ())
    if not any(t.get("samples") for t in threads):
        notes.append(
            Notification(level=NotificationLevel.WARNING, message="py-spy took no samples")
        )
    loop = summary.get("loop_thread")
    if loop is None:
        notes.append(
            Notification(
                level=NotificationLevel.NOTE,
                message="no thread ran an asyncio or uvloop event loop; no event-loop analysis"
                + _workers_hint(summary.get("child_pids") or []),
                rule="PROF013",
                underpowered=True,
            )
        )
    else:
        test = share_test(
            int(loop.get("held_samples", 0)),
            int(loop["samples"]),
            threshold=thresholds.loop_busy_share,
            min_samples=thresholds.loop_min_samples,
        )
        note = _power_note(
            "PROF013", "the event-loop thread was held by work", "loop-thread samples", test
        )
        if note is not None:
            notes.append(note)
        starved = _starved_loop_note(summary, loop, thresholds)
        if starved is not None:
            notes.append(starved)
    from infermedic.profile.rules.lock_contention import lock_wait_test

    locks = lock_wait_test(summary, thresholds)
    if locks.samples:
        note = _power_note(
            "PROF014", "request threads waited on a lock", "request-thread samples", locks
        )
        if note is not None:
            notes.append(note)
    elif threads:
        notes.append(
            Notification(
                level=NotificationLevel.NOTE,
                rule="PROF014",
                underpowered=True,
                message=(
                    "PROF014 not judged: no worker thread ran the service's own code while it "
                    "was sampled (lock waits are looked for in request handlers that run in a "
                    "thread pool: sync routes, or helpers passed to run_in_threadpool)"
                ),
            )
        )
    return notes


def _workers_hint(children: list[int]) -> str:
    if not children:
        return ""
    listed = ", ".join(str(c) for c in children[:8])
    return (
        f" (the process has {len(children)} child process(es), PID {listed}: a server that "
        "forks workers serves requests in them; sample one with --pid)"
    )


def _power_note(code: str, what: str, unit: str, test: ShareTest) -> Notification | None:
    """A notification for a share that could not be judged either way; None when it could."""
    if test.verdict == "underpowered":
        message = (
            f"{code} not judged, too few samples: {test.samples} {unit}, at least "
            f"{test.min_samples} needed; sample longer (--duration) or under load (--url)"
        )
    elif test.verdict == "inconclusive":
        message = (
            f"{code} inconclusive: {what} in {test.share:.0%} of {test.samples} {unit} "
            f"({test.interval()}), which straddles the {test.threshold:.0%} threshold; "
            "sample longer (--duration) to decide"
        )
    else:
        return None
    return Notification(
        level=NotificationLevel.WARNING, message=message, rule=code, underpowered=True
    )


def _starved_loop_note(
    summary: Mapping[str, Any], loop: Mapping[str, Any], thresholds: ProfileThresholds
) -> Notification | None:
    """The loop off CPU outside its selector at lines that call nothing blocking, while
    another thread runs: the GIL, held by that thread. Not work on the loop, but it delays
    every request as much."""
    samples = int(loop["samples"])
    waiting = int(loop.get("waiting_samples", 0))
    other = busiest_other_thread(summary)
    if samples < thresholds.loop_min_samples or waiting < _STARVED_SHARE * samples:
        return None
    busy = on_cpu_work(other) if other is not None else 0
    if other is None or busy < _STARVED_SHARE * samples:
        return None
    where = other["top_frames"][0]["frame"] if other.get("top_frames") else "-"
    return Notification(
        level=NotificationLevel.NOTE,
        rule="PROF013",
        message=(
            f"the event-loop thread waited off CPU outside its selector, at lines that call "
            f"nothing blocking, in {waiting / samples:.0%} of {samples} samples while "
            f"{other['name']} ran on the CPU in {busy / samples:.0%} of them (most at "
            f"{where}): most likely the GIL, held by that thread; not counted as work on "
            "the loop. Move that thread's CPU work to a process, or release the GIL in it"
        ),
    )


def py_spy_reason(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip() and "py-spy>" not in line]
    return lines[-1][:300] if lines else "no output"


def _hint(output: str) -> str | None:
    lowered = output.lower()
    if "permission" in lowered or "operation not permitted" in lowered:
        return "run as the process's user or with sudo; in a container add SYS_PTRACE"
    if "python" in lowered and "not" in lowered:
        return "the process does not look like a Python interpreter"
    return None


def live_tables(summary: Mapping[str, Any]) -> tuple[Table, ...]:
    rows: list[tuple[Any, ...]] = []
    frames: list[tuple[Any, ...]] = []
    for thread in summary["threads"]:
        name = thread["name"] + (" (event loop)" if thread["event_loop"] else "")
        for category, count in thread["category_samples"].items():
            share = thread["category_shares"].get(category, 0.0)
            rows.append((name, category, count, f"{share:.0%}"))
        if thread["idle_samples"]:
            rows.append((name, "idle (not counted)", thread["idle_samples"], ""))
        frames.extend(
            (name, item["category"], item["frame"], item["samples"])
            for item in thread["top_frames"]
        )
    loop = summary.get("loop_thread")
    places: list[tuple[Any, ...]] = []
    if loop is not None and loop["samples"]:
        samples = int(loop["samples"])
        for place in loop.get("places", ()):
            low, high = wilson_interval(int(place["samples"]), samples)
            places.append(
                (
                    f"{place['function']} ({place['site']})",
                    place["category"],
                    f"{place['samples'] / samples:.0%}",
                    f"{low:.0%}–{high:.0%}",
                    place["on_cpu"],
                    place["blocked"],
                    place.get("via") or "-",
                )
            )
    return (
        Table(
            title="What holds the event loop (share of the loop thread's samples)",
            columns=("place", "what", "share", "95% CI", "on CPU", "blocked", "called from"),
            rows=tuple(places),
            key="live-loop-places",
        ),
        Table(
            title="Where the samples went, per thread",
            columns=("thread", "category", "samples", "share of thread"),
            rows=tuple(rows),
            key="live-categories",
        ),
        Table(
            title="Top frames",
            columns=("thread", "category", "frame", "samples"),
            rows=tuple(frames),
            key="live-frames",
        ),
    )
