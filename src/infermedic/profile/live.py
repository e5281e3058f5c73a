"""`sample_process`: where a running service's time goes, from py-spy stack samples.

Two py-spy recorders run side by side (`--nonblocking`, so neither pauses the service): one
with idle threads and one without. Their difference per stack is the time a thread spent
waiting (sleep, blocking I/O, a lock), which a single recording cannot tell from work.
"""

from __future__ import annotations

import linecache
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infermedic.errors import EngineUnavailable, InputError
from infermedic.model import Location, Notification, NotificationLevel, Report, Table
from infermedic.profile.config import thresholds_from_options
from infermedic.profile.context import ProfileContext
from infermedic.settings import Settings

Stack = tuple[str, tuple[str, ...]]  # (thread label, frames outermost first)

MODEL = "model compute"
PREPROCESSING = "preprocessing and validation"
SERIALISATION = "serialisation"
BLOCKING = "blocking I/O or sleep"
LOCK = "lock wait"
FRAMEWORK = "server and framework"
OTHER = "other Python"
AWAITING = "awaiting (idle loop)"
BUSY_CATEGORIES = (MODEL, PREPROCESSING, SERIALISATION, BLOCKING, LOCK)
# What must not run on an event-loop thread. Encoding the response is the loop's own work in
# an async framework, so serialisation counts as busy but not as blocking.
LOOP_BLOCKING_CATEGORIES = (MODEL, PREPROCESSING, BLOCKING, LOCK)

# Path fragments (with `/`) and the category they mark, checked innermost frame first.
_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        PREPROCESSING,
        (
            "/sklearn/preprocessing/",
            "/sklearn/compose/",
            "/sklearn/impute/",
            "/sklearn/feature_extraction/",
            "/sklearn/feature_selection/",
            "/sklearn/decomposition/",
            "/sklearn/utils/validation.py",
            "/pandas/",
        ),
    ),
    (
        MODEL,
        (
            "/sklearn/ensemble/",
            "/sklearn/linear_model/",
            "/sklearn/tree/",
            "/sklearn/svm/",
            "/sklearn/neighbors/",
            "/sklearn/neural_network/",
            "/sklearn/naive_bayes/",
            "/sklearn/discriminant_analysis.py",
            "/sklearn/gaussian_process/",
            "/onnxruntime/",
            "/torch/",
            "/xgboost/",
            "/lightgbm/",
            "/catboost/",
            "/tensorflow/",
            "/keras/",
            "/transformers/",
        ),
    ),
    (
        SERIALISATION,
        (
            "/json/",
            "/orjson",
            "/ujson",
            "/pydantic/",
            "/pydantic_core/",
            "/fastapi/encoders.py",
            "/starlette/responses.py",
            "/pickle.py",
            "/msgpack/",
        ),
    ),
    (
        BLOCKING,
        (
            "/socket.py",
            "/ssl.py",
            "/http/client.py",
            "/urllib3/",
            "/requests/",
            "/sqlite3/",
            "/psycopg",
            "/redis/",
            "/subprocess.py",
        ),
    ),
    (LOCK, ("/threading.py", "/queue.py", "/concurrent/futures/_base.py")),
)
_FRAMEWORK = (
    "/uvicorn/",
    "/starlette/",
    "/fastapi/",
    "/asyncio/",
    "/anyio/",
    "/h11/",
    "/httptools/",
    "/uvloop/",
)
_LOOP_MARKERS = ("/asyncio/base_events.py", "/asyncio/runners.py", "/uvicorn/server.py", "/uvloop/")
_AWAIT_INNERMOST = ("/selectors.py", "/asyncio/base_events.py", "/asyncio/runners.py", "/uvloop/")
_MODEL_FUNCTIONS = {"predict", "predict_proba", "decision_function", "forward", "run"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Frame:
    function: str
    path: str
    line: int | None

    def describe(self) -> str:
        return f"{self.function} ({self.path}:{self.line})" if self.line else self.function


def parse_frame(text: str) -> Frame:
    head, sep, tail = text.rpartition(" (")
    if not sep or not tail.endswith(")"):
        return Frame(function=text, path="", line=None)
    location = tail[:-1]
    path, colon, line = location.rpartition(":")
    if colon and line.isdigit():
        return Frame(function=head, path=path, line=int(line))
    return Frame(function=head, path=location, line=None)


def parse_raw(text: str) -> Counter[Stack]:
    """py-spy's raw (collapsed) format with `--threads`: `thread (TID): NAME;f1;f2 COUNT`."""
    stacks: Counter[Stack] = Counter()
    for line in text.splitlines():
        body, _, count = line.rpartition(" ")
        if not body or not count.isdigit():
            continue
        parts = body.split(";")
        thread = parts[0]
        stacks[(thread, tuple(parts[1:]))] += int(count)
    return stacks


def classify(frames: tuple[Frame, ...]) -> str:
    """The category of a sample: its innermost frame in a recognised library."""
    for frame in reversed(frames):
        path = frame.path.replace("\\", "/")
        for category, fragments in _PATTERNS:
            if any(fragment in path for fragment in fragments):
                if category == LOCK and frame.function.split(".")[-1] not in {
                    "acquire",
                    "wait",
                    "join",
                    "get",
                    "put",
                    "result",
                    "__enter__",
                }:
                    continue
                return category
    # A frame named like a model method is model compute only below the service's entry
    # point: the route handler itself is often called `predict`.
    first_own = next((i for i, f in enumerate(frames) if is_own_code(f)), None)
    below_entry = frames[first_own + 1 :] if first_own is not None else frames
    if any(f.function.split(".")[-1] in _MODEL_FUNCTIONS for f in below_entry):
        return MODEL
    if frames and any(fragment in frames[-1].path for fragment in _FRAMEWORK):
        return FRAMEWORK
    return OTHER


def _waiting_category(frames: tuple[Frame, ...]) -> str:
    """Why an idle sample outside the loop's own wait is waiting, from its innermost line."""
    category = classify(frames)
    if category in {BLOCKING, LOCK}:
        return category
    innermost = frames[-1] if frames else None
    if innermost is not None and innermost.line:
        source = linecache.getline(innermost.path, innermost.line).lower()
        if any(word in source for word in ("acquire", "lock", ".wait(", ".result(", ".join(")):
            return LOCK
    return BLOCKING


def _is_loop_thread(frames: tuple[Frame, ...]) -> bool:
    return any(any(m in f.path for m in _LOOP_MARKERS) for f in frames)


def _awaiting(frames: tuple[Frame, ...]) -> bool:
    return bool(frames) and any(m in frames[-1].path for m in _AWAIT_INNERMOST)


def summarise(all_samples: Counter[Stack], active: Counter[Stack]) -> dict[str, Any]:
    """Per-thread category shares and top frames from the two recordings.

    Work comes from the active recording, stack by stack. Waiting is counted per thread
    (all samples minus active ones), because the two recorders sample at slightly different
    moments and a per-stack difference would be mostly noise; the loop thread's waiting
    outside its selector is then split by the stacks that gained the most idle samples.
    """
    parsed = {stack: tuple(parse_frame(f) for f in stack[1]) for stack in all_samples | active}
    loop_votes: Counter[str] = Counter()
    for stack, frames in parsed.items():
        if _is_loop_thread(frames):
            loop_votes[stack[0]] += all_samples.get(stack, 0)
    loop_label = loop_votes.most_common(1)[0][0] if loop_votes else None
    labels = sorted({stack[0] for stack in parsed})
    summary: dict[str, Any] = {"threads": [], "loop_thread": None}
    records: list[dict[str, Any]] = []
    for label in labels:
        is_loop = label == loop_label
        stacks = [stack for stack in parsed if stack[0] == label]
        total_all = sum(all_samples.get(stack, 0) for stack in stacks)
        total_active = sum(active.get(stack, 0) for stack in stacks)
        samples = max(total_all, total_active)
        categories: Counter[str] = Counter()
        frames_seen: Counter[tuple[str, str]] = Counter()
        for stack in stacks:
            count = active.get(stack, 0)
            if not count:
                continue
            frames = parsed[stack]
            category = AWAITING if is_loop and _awaiting(frames) else classify(frames)
            categories[category] += count
            if category != AWAITING:
                frames_seen[(category, _top_frame(frames))] += count
        idle = max(0, total_all - total_active)
        idle_not_counted = idle
        if is_loop and idle:
            awaiting = sum(
                max(0, all_samples.get(stack, 0) - active.get(stack, 0))
                for stack in stacks
                if _awaiting(parsed[stack])
            )
            awaiting = min(awaiting, idle)
            categories[AWAITING] += awaiting
            blocked = idle - awaiting
            excess = {
                stack: all_samples.get(stack, 0) - active.get(stack, 0)
                for stack in stacks
                if not _awaiting(parsed[stack]) and all_samples.get(stack, 0) > active.get(stack, 0)
            }
            weight = sum(excess.values())
            if blocked and weight:
                for stack, extra in excess.items():
                    share = round(blocked * extra / weight)
                    if share:
                        category = _waiting_category(parsed[stack])
                        categories[category] += share
                        frames_seen[(category, _top_frame(parsed[stack]))] += share
            elif blocked:
                categories[BLOCKING] += blocked
            idle_not_counted = 0
        shares = (
            {name: count / samples for name, count in categories.most_common()} if samples else {}
        )
        lock_waits: Counter[str] = Counter()
        request_samples = 0
        if not is_loop:
            for stack in stacks:
                frames = parsed[stack]
                if not _in_request_code(frames):
                    continue
                request_samples += max(all_samples.get(stack, 0), active.get(stack, 0))
                waiting = all_samples.get(stack, 0) - active.get(stack, 0)
                if waiting > 0 and _waiting_category(frames) == LOCK:
                    lock_waits[_top_frame(frames)] += waiting
        record: dict[str, Any] = {
            "name": label,
            "lock_wait_samples": sum(lock_waits.values()),
            "lock_wait_frames": dict(lock_waits.most_common(5)),
            "request_samples": request_samples,
            "loop_blocking_share": sum(shares.get(c, 0.0) for c in LOOP_BLOCKING_CATEGORIES),
            "samples": samples,
            "idle_samples": idle_not_counted,
            "category_samples": dict(categories),
            "category_shares": shares,
            "busy_share": sum(shares.get(c, 0.0) for c in BUSY_CATEGORIES),
            "top_frames": [
                {"category": category, "frame": frame, "samples": count}
                for (category, frame), count in frames_seen.most_common(8)
            ],
            "event_loop": is_loop,
        }
        records.append(record)
    for record in sorted(records, key=lambda r: -int(r["samples"])):
        label = record["name"]
        summary["threads"].append(record)
        if label == loop_label:
            summary["loop_thread"] = record
    return summary


def is_own_code(frame: Frame) -> bool:
    """A frame of the service's own code: outside site-packages and the standard library."""
    path = frame.path.replace("\\", "/")
    return bool(path) and not (
        "-packages/" in path or "/lib/python3" in path or path.startswith("<")
    )


# Frames of the thread pools that run request handlers (FastAPI/Starlette sync routes run
# in anyio's workers; `run_in_executor` and `asyncio.to_thread` in concurrent.futures').
_REQUEST_POOL_MARKERS = ("/anyio/", "/concurrent/futures/thread.py", "/starlette/")


def _in_request_code(frames: tuple[Frame, ...]) -> bool:
    """Whether a worker thread is handling a request in the service's own code: its stack
    runs through a request thread pool into a frame of the service. A pool thread waiting
    for work (no service frame) and the service's own background threads (a log writer,
    not started by the pool) do not count."""
    in_pool = any(any(m in f.path for m in _REQUEST_POOL_MARKERS) for f in frames)
    return in_pool and any(is_own_code(f) for f in frames)


def _top_frame(frames: tuple[Frame, ...]) -> str:
    """The innermost frame outside the standard library's plumbing, as `func (file:line)`."""
    for frame in reversed(frames):
        if "/threading.py" in frame.path or "/selectors.py" in frame.path:
            continue
        return frame.describe()
    return frames[-1].describe() if frames else "-"


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
    summary = summarise(all_samples, active)
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
    context = ProfileContext(
        results={"live": summary},
        thresholds=thresholds,
        location=Location(url=url, endpoint=f"PID {pid}")
        if url
        else Location(endpoint=f"PID {pid}"),
        action=f"py-spy record --pid {pid} --duration {duration:g} --rate {rate} --idle --threads",
    )
    from infermedic.profile.rules.lock_contention import LockContention
    from infermedic.profile.rules.work_in_event_loop_thread import WorkInEventLoopThread

    findings = [*WorkInEventLoopThread().check(context), *LockContention().check(context)]
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
    if not sum(all_samples.values()):
        notes.append(
            Notification(
                level=NotificationLevel.WARNING, message=f"py-spy took no samples of PID {pid}"
            )
        )
    if summary["loop_thread"] is None:
        notes.append(
            Notification(
                level=NotificationLevel.NOTE,
                message="no thread ran an asyncio or uvloop event loop; no event-loop analysis",
            )
        )
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
    return (
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
