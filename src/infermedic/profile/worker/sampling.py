"""Stages of a plain callable, from py-spy samples of the worker's own repeated calls.

A scikit-learn Pipeline names its steps and torch has a profiler; a `MODULE:ATTR` callable
or a custom `predict` has neither. Here py-spy samples the worker process while it calls the
model in a loop, and each function the model's entry point calls directly becomes a stage
with its share of the samples. A stage's role comes from where its samples end: in a
model library (model), in scikit-learn preprocessing or pandas (preprocessing), in a JSON or
pydantic decoder (decode); plain Python of the user's own is preprocessing when the call also
reaches a model library, and `code` (not judged) when nothing in the call is recognisably
the model. Shares become times by multiplying with the whole call's timed median.

py-spy runs as a child of the worker; under `kernel.yama.ptrace_scope=1` a child may not
read its parent, so the worker allows it with `prctl(PR_SET_PTRACER)` first. When py-spy is
missing or cannot attach, the stage table keeps the single timed call and says why.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infermedic.errors import EngineUnavailable
from infermedic.profile import pyspy, stacks

# A stage holding at least this share of the entry's samples, in the user's own code, is
# looked into: a `predict` that only calls `self._predict(X)` has its stages one level down.
_DESCEND_SHARE = 0.9
_MAX_STAGES = 8
_ROLE_OF_CATEGORY = {
    stacks.MODEL: "model",
    stacks.PREPROCESSING: "preprocessing",
    stacks.SERIALISATION: "decode",
    stacks.BLOCKING: "blocking-io",
    stacks.LOCK: "lock-wait",
}


_PR_SET_PTRACER = 0x59616D61
_PTRACER_ANY = 0xFFFFFFFFFFFFFFFF  # (unsigned long) -1


def allow_tracing_by_children(allow: bool = True) -> None:
    """Let a child process (py-spy) read this one under Yama ptrace_scope=1, or take that
    back (`allow=False`); Linux only. py-spy's pid is not known before it attaches, hence
    "any" for the few seconds of sampling."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PTRACER, ctypes.c_ulong(_PTRACER_ANY if allow else 0), 0, 0, 0)
    except (OSError, AttributeError):  # no Yama, no prctl: nothing to allow
        pass


def _in_model(call: Callable[[], object]) -> None:
    """The frame that marks where the model starts: every frame below it is the model's."""
    call()


def _sampling_loop(
    call: Callable[[], object], recorder: subprocess.Popen[str], cap_s: float
) -> int:
    """Call the model until the recorder finishes (or `cap_s`, if py-spy hangs)."""
    calls = 0
    end = time.monotonic() + cap_s
    while recorder.poll() is None and time.monotonic() < end:
        _in_model(call)
        calls += 1
    return calls


def sample_call(
    call: Callable[[], object], *, seconds: float = 1.0, rate: int = 250
) -> dict[str, Any]:
    """Sample this process while it repeats `call`; the stages, or why there are none."""
    try:
        py_spy = pyspy.find_py_spy()
    except EngineUnavailable as exc:
        return {"status": "unavailable", "reason": str(exc)}
    allow_tracing_by_children()
    duration = max(1, round(seconds))
    with tempfile.TemporaryDirectory(prefix="infermedic-sample-") as scratch:
        out = Path(scratch) / "samples.txt"
        # Blocking mode: py-spy pauses the worker for each sample. Without it, stacks of
        # short calls are read while they change and mix frames of different stages.
        recorder = pyspy.record(py_spy, os.getpid(), duration, rate, False, out, nonblocking=False)
        try:
            calls = _sampling_loop(call, recorder, cap_s=duration + 5.0)
            recorder.wait(timeout=10)
        finally:
            if recorder.poll() is None:
                recorder.kill()
                recorder.wait()
            allow_tracing_by_children(False)
        output = ""
        if recorder.stdout is not None:
            with recorder.stdout:
                output = recorder.stdout.read()
        text = out.read_text(encoding="utf-8", errors="replace") if out.is_file() else ""
    if recorder.returncode != 0 or not text:
        return {
            "status": "unavailable",
            "reason": f"py-spy could not sample the worker: {pyspy.py_spy_reason(output)}",
        }
    result = stages_from_samples(stacks.parse_raw(text))
    result["calls"] = calls
    return result


def _is_marker(frame: stacks.Frame) -> bool:
    return frame.function == _in_model.__name__ and frame.path.endswith("sampling.py")


def stages_from_samples(samples: Counter[stacks.Stack]) -> dict[str, Any]:
    """Group samples by the function the model's entry point was running in, level by level."""
    below: list[tuple[tuple[stacks.Frame, ...], int]] = []
    for (_thread, texts), count in samples.items():
        frames = tuple(stacks.parse_frame(t) for t in texts)
        index = next((i for i, f in enumerate(frames) if _is_marker(f)), None)
        if index is not None and len(frames) > index + 1:
            below.append((frames[index + 1 :], count))
    total = sum(count for _, count in below)
    if total == 0:
        return {"status": "unavailable", "reason": "no samples landed in the model's call"}
    depth = 1  # frames[0] is the model's entry point; its callees are the stages
    entry = _common_frame(below, 0)
    while True:
        groups = _group(below, depth)
        biggest_key, biggest = max(groups.items(), key=lambda item: item[1][0])
        if (
            biggest[0] >= _DESCEND_SHARE * total
            and depth < 12
            and _is_wrapper(biggest_key, biggest[1])
        ):
            below = [
                (frames, count) for frames, count in below if _key(frames, depth) == biggest_key
            ]
            total = sum(count for _, count in below)
            depth += 1
            continue
        break
    reaches_model = any(_entry_category(key) == stacks.MODEL for key in groups) or any(
        stacks.classify(frames) == stacks.MODEL for frames, _ in below
    )
    stages: list[dict[str, Any]] = []
    for key, (count, members) in sorted(groups.items(), key=lambda item: -item[1][0]):
        stages.append(_stage(key, count, total, members, depth, reaches_model))
    _mark_postprocessing(stages)
    if len(stages) > _MAX_STAGES:
        rest = stages[_MAX_STAGES - 1 :]
        stages = stages[: _MAX_STAGES - 1] + [
            {
                "name": f"({len(rest)} other functions)",
                "role": "code",
                "samples": sum(s["samples"] for s in rest),
                "share": sum(s["share"] for s in rest),
                "called_at": None,
                "top_frames": [],
            }
        ]
    return {
        "status": "sampled",
        "entry": entry.describe() if entry else None,
        "depth": depth,
        "samples": total,
        "stages": stages,
    }


def _mark_postprocessing(stages: list[dict[str, Any]]) -> None:
    """Own-code stages called after the model (a later line of the same caller) come after it."""
    model_sites = [_site(s["called_at"]) for s in stages if s["role"] == "model"]
    last_model = dict(sorted(filter(None, model_sites)))  # the last model call per file
    for stage in stages:
        site = _site(stage["called_at"])
        if stage["role"] == "preprocessing" and site and site[1] > last_model.get(site[0], 1 << 30):
            stage["role"] = "postprocessing"


def _site(text: str | None) -> tuple[str, int] | None:
    if not text:
        return None
    path, _, line = text.rpartition(":")
    return (path, int(line)) if line.isdigit() else None


_Key = tuple[str, str] | None  # (function, path) of the callee at a depth; None: the caller itself


def _entry_category(key: _Key) -> str | None:
    """The category a stage's own function marks (a model library's `predict`, scikit-learn
    preprocessing, a JSON decoder); None for the user's own functions, judged by what they
    call. Innermost frames alone would call `LogisticRegression.predict_proba` at batch 1
    preprocessing: most of its time there is input validation."""
    if key is None:
        return None
    frame = stacks.Frame(function=key[0], path=key[1], line=None)
    if stacks.is_own_code(frame):
        return None
    category = stacks.classify((frame,))
    return None if category in {stacks.OTHER, stacks.FRAMEWORK} else category


def _is_wrapper(key: _Key, members: list[tuple[tuple[stacks.Frame, ...], int]]) -> bool:
    """A function holding both model work and other work, material each, and not itself a
    recognised stage (the user's wrapper, or a serving library's such as mlflow's pyfunc):
    its callees are the stages worth naming."""
    if key is None or _entry_category(key) is not None:
        return False
    total = sum(count for _, count in members)
    model = sum(count for frames, count in members if stacks.classify(frames) == stacks.MODEL)
    return 0.1 * total <= model <= 0.9 * total


def _key(frames: tuple[stacks.Frame, ...], depth: int) -> _Key:
    if len(frames) <= depth:
        return None
    frame = frames[depth]
    return (frame.function, frame.path)


def _group(
    below: list[tuple[tuple[stacks.Frame, ...], int]], depth: int
) -> dict[_Key, tuple[int, list[tuple[tuple[stacks.Frame, ...], int]]]]:
    groups: dict[_Key, tuple[int, list[tuple[tuple[stacks.Frame, ...], int]]]] = {}
    for frames, count in below:
        key = _key(frames, depth)
        previous, members = groups.get(key, (0, []))
        members.append((frames, count))
        groups[key] = (previous + count, members)
    return groups


def _common_frame(
    below: list[tuple[tuple[stacks.Frame, ...], int]], depth: int
) -> stacks.Frame | None:
    frames = [f[depth] for f, _ in below if len(f) > depth]
    return Counter(frames).most_common(1)[0][0] if frames else None


def _stage(
    key: _Key,
    count: int,
    total: int,
    members: list[tuple[tuple[stacks.Frame, ...], int]],
    depth: int,
    reaches_model: bool,
) -> dict[str, Any]:
    categories: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    call_sites: Counter[str] = Counter()
    for frames, weight in members:
        categories[stacks.classify(frames)] += weight
        innermost[frames[-1].describe()] += weight
        caller = frames[depth - 1]
        if key is not None and caller.line:
            call_sites[f"{caller.path}:{caller.line}"] += weight
    category = _entry_category(key)
    if category is None:
        category, most = categories.most_common(1)[0]
        if most < 0.5 * count:
            category = stacks.OTHER
    role = _ROLE_OF_CATEGORY.get(category)
    if key is None:
        # Lines of the caller itself (numpy arithmetic, say) may well be the model: not judged.
        name = f"(own lines of {members[0][0][depth - 1].function})"
        role = role or "code"
    else:
        name = key[0]
        # Unrecognised library code (a serving wrapper, say) is not judged: only the user's
        # own functions beside a model call are preprocessing or postprocessing.
        own = stacks.is_own_code(stacks.Frame(function=key[0], path=key[1], line=None))
        role = role or ("preprocessing" if reaches_model and own else "code")
    return {
        "name": name,
        "role": role,
        "samples": count,
        "share": count / total,
        "called_at": call_sites.most_common(1)[0][0] if call_sites else None,
        "top_frames": [{"frame": frame, "samples": n} for frame, n in innermost.most_common(3)],
    }
