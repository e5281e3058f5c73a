"""Where a live service's threads spend their samples, and what holds its event loop.

Two py-spy recordings of the same seconds come in: every sample (`--idle`) and on-CPU samples
only. For worker threads, `summarise` counts categories of on-CPU work and lock waits inside
request code. For the event-loop thread it accounts for every sample:

- awaiting: the loop in its selector (or uvloop's C loop), waiting for events. Not work.
- held: the loop is busy with something a request asked for, at a *place*. A place is the
  innermost frame of the service's own code (`expand_features` in `app/features.py`), split
  by what that frame calls (its own Python, a model library, a JSON encoder, a database
  call); with no service frame on the stack, it is the library doing the work (the
  framework's response encoder, pydantic validation, a third-party package). On-CPU samples
  count, and so do off-CPU samples at a call that waits (sleep, socket or database I/O, a
  lock, a model library waiting on its own threads).
- server and framework: the loop's own plumbing (uvicorn, starlette, anyio) with no service
  frame and no recognised work. Its job; not a place to move off the loop.
- waiting: off CPU outside the selector at a line that calls nothing blocking. In a busy
  process that is the GIL held by other threads, not work of the loop's own.

The two recorders sample at slightly different moments, so on-CPU counts per stack differ
by noise; they are compared per place (summed over its lines), never per line.
`share_test` is the one criterion every verdict here uses: a share of samples with a Wilson
interval, a threshold its lower bound must clear, and a minimum sample count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from infermedic.model import Effect
from infermedic.profile.live_results import LivePlace
from infermedic.profile.stacks import (
    AWAITING,
    BLOCKING,
    BUSY_CATEGORIES,
    FRAMEWORK,
    LIBRARY,
    LOCK,
    MODEL,
    PREPROCESSING,
    SERIALISATION,
    SERVICE_CODE,
    WAITING,
    Frame,
    SourceLookup,
    Stack,
    calls_model,
    classify,
    display_path,
    frame_category,
    in_model_call,
    is_awaiting,
    is_framework,
    is_loop_thread_stack,
    is_own_code,
    is_stdlib,
    package_of,
    parse_frame,
    read_line,
    top_frame,
    waiting_category,
    waits_in_a_blocking_call,
)

HELD_CATEGORIES = (MODEL, PREPROCESSING, SERIALISATION, BLOCKING, LOCK, LIBRARY, SERVICE_CODE)
CONFIDENCE = 0.95
_MAX_PLACES = 8
# Frames of the thread pools that run request handlers (FastAPI/Starlette sync routes run
# in anyio's workers; `run_in_executor` and `asyncio.to_thread` in concurrent.futures').
_REQUEST_POOL_MARKERS = ("/anyio/", "/concurrent/futures/thread.py", "/starlette/")

Frames = tuple[Frame, ...]
PlaceKey = tuple[str, str, str]  # (function, path, category)


@dataclass(frozen=True, kw_only=True, slots=True)
class ShareTest:
    """A share of samples judged against a threshold: it fires only when the lower end of
    its Wilson interval clears the threshold, over at least `min_samples` samples."""

    hits: int
    samples: int
    threshold: float
    min_samples: int
    low: float
    high: float
    confidence: float = CONFIDENCE

    @property
    def share(self) -> float:
        return self.hits / self.samples if self.samples else 0.0

    @property
    def verdict(self) -> str:
        """`fires`, `clear` (the whole interval is below), `inconclusive` (it straddles the
        threshold) or `underpowered` (too few samples to judge)."""
        if self.samples < self.min_samples:
            return "underpowered"
        if self.low >= self.threshold:
            return "fires"
        return "clear" if self.high < self.threshold else "inconclusive"

    def interval(self) -> str:
        return f"{self.confidence:.0%} CI {self.low:.0%}–{self.high:.0%}"

    def criterion(self) -> str:
        return (
            f"fires when the lower end of the {self.confidence:.0%} Wilson interval is at "
            f"least {self.threshold:.0%}, over at least {self.min_samples} samples"
        )

    def effect(self, statistic: str, *, strong: float) -> Effect:
        """The share as a measured effect with its interval, for the judge: `strong` is the
        lower bound that no noise on the host produces."""
        return Effect(
            statistic=statistic,
            value=self.share,
            interval=(self.low, self.high),
            threshold=self.threshold,
            strong=strong,
            unit="",
        )

    def as_values(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "samples": self.samples,
            "share": round(self.share, 4),
            "ci_low": round(self.low, 4),
            "ci_high": round(self.high, 4),
            "confidence": self.confidence,
            "threshold": self.threshold,
            "min_samples": self.min_samples,
            "verdict": self.verdict,
        }


def wilson_interval(hits: int, samples: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (scipy's `binomtest`)."""
    if samples <= 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    hits = max(0, min(hits, samples))
    ci = binomtest(hits, samples).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def share_test(
    hits: int, samples: int, *, threshold: float, min_samples: int, confidence: float = CONFIDENCE
) -> ShareTest:
    low, high = wilson_interval(hits, samples, confidence)
    return ShareTest(
        hits=hits,
        samples=samples,
        threshold=threshold,
        min_samples=min_samples,
        low=low,
        high=high,
        confidence=confidence,
    )


def summarise(
    all_samples: Counter[Stack],
    active: Counter[Stack],
    *,
    source: SourceLookup = read_line,
    root: str | None = None,
) -> dict[str, Any]:
    """Per-thread category counts and, for the event-loop thread, what holds it.

    `source` reads a line of the sampled service's code (to tell a blocking call from a
    wait for the GIL); recorded fixtures pass the lines they were recorded with. `root` is
    the service's working directory: its files are shown relative to it."""
    parsed = {stack: tuple(parse_frame(f) for f in stack[1]) for stack in all_samples | active}
    loop_votes: Counter[str] = Counter()
    for stack, frames in parsed.items():
        if is_loop_thread_stack(frames):
            loop_votes[stack[0]] += all_samples.get(stack, 0)
    loop_label = loop_votes.most_common(1)[0][0] if loop_votes else None
    by_thread: dict[str, list[tuple[Frames, int, int]]] = {}
    for stack, frames in parsed.items():
        by_thread.setdefault(stack[0], []).append(
            (frames, all_samples.get(stack, 0), active.get(stack, 0))
        )
    records = [
        _loop_record(label, rows, source, root)
        if label == loop_label
        else _worker_record(label, rows, source, root)
        for label, rows in sorted(by_thread.items())
    ]
    records.sort(key=lambda r: -int(r["samples"]))
    loop = next((r for r in records if r["event_loop"]), None)
    return {
        "threads": records,
        "loop_thread": loop,
        "model_off_loop": _model_off_loop(by_thread, loop_label, root),
    }


def _worker_record(
    label: str, rows: list[tuple[Frames, int, int]], source: SourceLookup, root: str | None
) -> dict[str, Any]:
    total_all = sum(a for _, a, _ in rows)
    total_active = sum(b for _, _, b in rows)
    samples = max(total_all, total_active)
    categories: Counter[str] = Counter()
    frames_seen: Counter[tuple[str, str]] = Counter()
    lock_waits: Counter[str] = Counter()
    request_samples = 0
    for frames, all_count, active_count in rows:
        if active_count:
            category = classify(frames)
            categories[category] += active_count
            frames_seen[(category, top_frame(frames, root))] += active_count
        if not _in_request_code(frames):
            continue
        request_samples += max(all_count, active_count)
        waiting = all_count - active_count
        if waiting > 0 and waiting_category(frames, source) == LOCK:
            lock_waits[top_frame(frames, root)] += waiting
    shares = {name: count / samples for name, count in categories.most_common()} if samples else {}
    return {
        "name": label,
        "event_loop": False,
        "samples": samples,
        "idle_samples": max(0, total_all - total_active),
        "category_samples": dict(categories),
        "category_shares": shares,
        "busy_share": sum(shares.get(c, 0.0) for c in BUSY_CATEGORIES),
        "top_frames": [
            {"category": category, "frame": frame, "samples": count}
            for (category, frame), count in frames_seen.most_common(8)
        ],
        "lock_wait_samples": sum(lock_waits.values()),
        "lock_wait_frames": dict(lock_waits.most_common(5)),
        "request_samples": request_samples,
    }


def _in_request_code(frames: Frames) -> bool:
    """Whether a worker thread is handling a request in the service's own code: its stack
    runs through a request thread pool into a frame of the service. A pool thread waiting
    for work (no service frame) and the service's own background threads (a log writer,
    not started by the pool) do not count."""
    in_pool = any(any(m in f.path for m in _REQUEST_POOL_MARKERS) for f in frames)
    return in_pool and any(is_own_code(f) for f in frames)


@dataclass(frozen=True, kw_only=True, slots=True)
class Place:
    """Where a loop-thread sample holds the loop: a function, split by what it calls."""

    key: PlaceKey
    frame: Frame  # the frame the place is named after (its line varies per sample)
    own_code: bool
    via: Frame | None  # the route handler (or library caller) that led there
    calls: Frame | None  # what the place's frame was calling, when not its own lines


def locate(frames: Frames, source: SourceLookup = read_line) -> Place | None:
    """The place a loop-thread sample holds the loop at, or None for the loop's own
    server and framework plumbing."""
    # Service frames count from the innermost server or framework frame inward: a script
    # that starts uvicorn (`uvicorn.run(app)` in `main.py`) sits above every stack, and the
    # route handler is the first service frame the framework calls.
    framework = [i for i, f in enumerate(frames) if is_framework(f)]
    start = framework[-1] + 1 if framework else 0
    own = [i for i in range(start, len(frames)) if is_own_code(frames[i])]
    if own:
        return _own_place(frames, own[0], own[-1], source)
    category = classify(frames)
    found = next(
        (i for i in range(len(frames) - 1, -1, -1) if frame_category(frames[i]) == category),
        None,
    )
    # Recognised work with no service frame: the framework encoding a response, pydantic
    # validating a body, a library's own socket or lock (the standard library's sockets
    # and locks with no service frame are the server's plumbing).
    recognised = found is not None and (
        category in {MODEL, PREPROCESSING, SERIALISATION}
        or (category in {BLOCKING, LOCK} and not is_stdlib(frames[found]))
    )
    if found is not None and recognised:
        entry = found
        while entry > 0 and frame_category(frames[entry - 1]) == category:
            entry -= 1
        frame = frames[entry]
        return Place(
            key=(frame.function, frame.path, category),
            frame=frame,
            own_code=False,
            via=frames[entry - 1] if entry > 0 else None,
            calls=None,
        )
    if not frames:
        return None
    innermost = frames[-1]
    package = package_of(innermost) or _stdlib_work(innermost)
    if package is None or is_framework(innermost):
        return None
    entry = len(frames) - 1
    while entry > 0 and (package_of(frames[entry - 1]) or _stdlib_work(frames[entry - 1])) == (
        package
    ):
        entry -= 1
    return Place(
        key=(innermost.function, innermost.path, LIBRARY),
        frame=innermost,
        own_code=False,
        via=frames[entry - 1] if entry > 0 else None,
        calls=None,
    )


# Standard-library modules that do real work when a server or middleware calls them on the
# loop (GZipMiddleware compressing a large response, a CSV or XML body): a place, unlike
# the loop's plumbing (asyncio, selectors, sockets, threading, logging, typing).
_STDLIB_WORK = frozenset(
    {"gzip", "zlib", "bz2", "lzma", "zipfile", "tarfile", "csv", "base64", "hashlib", "hmac"}
    | {"xml", "html", "difflib", "statistics", "decimal", "fractions", "textwrap", "pickle"}
)


def _stdlib_work(frame: Frame) -> str | None:
    """The standard-library module a frame is in, when it is one that does work."""
    if not is_stdlib(frame):
        return None
    tail = display_path(frame.path)
    module = tail.split("/", 1)[0].removesuffix(".py")
    return module if module in _STDLIB_WORK else None


def _own_place(frames: Frames, first: int, index: int, source: SourceLookup) -> Place | None:
    """The place of a stack whose innermost service frame is `frames[index]`: that frame,
    split by what it calls. The framework's plumbing on the handler's behalf (handing a
    call to the thread pool: anyio's queue and locks, or reading the body) is not a place."""
    frame = frames[index]
    below = frames[index + 1 :]
    # What the service frame called decides the category: a model call includes its input
    # validation; otherwise the outermost recognised library below it.
    recognised = [(i, c) for i, f in enumerate(below) if (c := frame_category(f)) is not None]
    if calls_model(below):
        category = MODEL
    elif recognised:
        found, category = recognised[0]
        if category in {BLOCKING, LOCK} and (
            is_stdlib(below[found]) and any(is_framework(f) for f in below[:found])
        ):
            return None
    elif any(package_of(f) and not is_framework(f) for f in below):
        category = LIBRARY
    elif any(is_framework(f) for f in below):
        return None
    elif not below:
        # Its own line: plain Python, or a C call such as `time.sleep` or `cursor.execute`.
        category = waits_in_a_blocking_call((frame,), source) or SERVICE_CODE
    else:
        category = SERVICE_CODE
    return Place(
        key=(frame.function, frame.path, category),
        frame=frame,
        own_code=True,
        via=frames[first] if first != index else None,
        calls=below[0] if below else None,
    )


@dataclass(kw_only=True, slots=True)
class _Tally:
    """What one place accumulated over its stacks (internal and mutable while counting)."""

    place: Place
    all_count: int = 0
    active_count: int = 0
    blocked: int = 0  # off-CPU samples at a call that waits
    lines: Counter[int]
    vias: Counter[str]
    calls: Counter[str]


def _loop_record(
    label: str, rows: list[tuple[Frames, int, int]], source: SourceLookup, root: str | None
) -> dict[str, Any]:
    samples = sum(a for _, a, _ in rows)
    awaiting = 0
    framework_all = framework_active = 0
    tallies: dict[PlaceKey, _Tally] = {}
    for frames, all_count, active_count in rows:
        if is_awaiting(frames):
            awaiting += all_count
            continue
        place = locate(frames, source) if frames else None
        if place is None:
            framework_all += all_count
            framework_active += active_count
            continue
        tally = tallies.get(place.key)
        if tally is None:
            tally = _Tally(place=place, lines=Counter(), vias=Counter(), calls=Counter())
            tallies[place.key] = tally
        tally.all_count += all_count
        tally.active_count += active_count
        off_cpu = max(0, all_count - active_count)
        if off_cpu and waits_in_a_blocking_call(frames, source) is not None:
            tally.blocked += off_cpu
        weight = max(all_count, active_count)
        line = _line_of(frames, place)
        if line:
            tally.lines[line] += weight
        if place.via is not None:
            tally.vias[place.via.describe_site(root)] += weight
        if place.calls is not None:
            tally.calls[place.calls.describe_site(root)] += weight
    records = {key: _place_record(tally, root, source) for key, tally in tallies.items()}
    places = sorted(
        (r for r in records.values() if r["samples"] > 0),
        key=lambda p: (-p["samples"], p["function"], p["line"] or 0),
    )
    categories: Counter[str] = Counter()
    categories[AWAITING] += awaiting
    for key, record in records.items():
        categories[key[2]] += record["samples"]
        categories[WAITING] += record["waiting"]
    framework_cpu = min(framework_all, framework_active)
    categories[FRAMEWORK] += framework_cpu
    categories[WAITING] += framework_all - framework_cpu
    categories = Counter({k: v for k, v in categories.items() if v > 0})
    held = sum(p["samples"] for p in places)
    shares = {name: count / samples for name, count in categories.most_common()} if samples else {}
    return {
        "name": label,
        "event_loop": True,
        "samples": samples,
        "held_samples": held,
        "awaiting_samples": awaiting,
        "framework_samples": framework_cpu,
        "waiting_samples": categories.get(WAITING, 0),
        "places": places[:_MAX_PLACES],
        "place_count": len(places),
        "model_samples": sum(a for frames, a, _ in rows if in_model_call(frames)),
        "idle_samples": 0,
        "category_samples": dict(categories.most_common()),
        "category_shares": shares,
        "busy_share": held / samples if samples else 0.0,
        "loop_blocking_share": held / samples if samples else 0.0,
        "top_frames": [
            {"category": p["category"], "frame": p["frame"], "samples": p["samples"]}
            for p in places[:_MAX_PLACES]
        ],
        "lock_wait_samples": 0,
        "lock_wait_frames": {},
        "request_samples": 0,
    }


def _line_of(frames: Frames, place: Place) -> int | None:
    for frame in reversed(frames):
        if frame.function == place.frame.function and frame.path == place.frame.path:
            return frame.line
    return place.frame.line


def _place_record(tally: _Tally, root: str | None, source: SourceLookup) -> dict[str, Any]:
    place = tally.place
    on_cpu = min(tally.all_count, tally.active_count)
    off_cpu = tally.all_count - on_cpu
    blocked = min(off_cpu, tally.blocked)
    line = tally.lines.most_common(1)[0][0] if tally.lines else place.frame.line
    frame = Frame(function=place.frame.function, path=place.frame.path, line=line)
    return {
        "function": place.frame.function,
        "path": place.frame.path,
        "line": line,
        "file": display_path(frame.path, root),
        "site": frame.site(root),
        "frame": frame.describe_site(root),
        # The hot line's code, when readable: evidence, and what the fix is chosen by.
        "code": source(frame.path, line).strip()[:200] if line else "",
        "category": place.key[2],
        "own_code": place.own_code,
        "samples": on_cpu + blocked,
        "on_cpu": on_cpu,
        "blocked": blocked,
        "waiting": off_cpu - blocked,
        "via": tally.vias.most_common(1)[0][0] if tally.vias else None,
        "calls": tally.calls.most_common(1)[0][0] if tally.calls else None,
    }


def _model_off_loop(
    by_thread: Mapping[str, list[tuple[Frames, int, int]]],
    loop_label: str | None,
    root: str | None,
) -> dict[str, Any]:
    """Samples inside a model library's call on threads other than the loop's: where the
    model runs when it does not run on the loop."""
    samples = 0
    threads: set[str] = set()
    entries: Counter[str] = Counter()
    for label, rows in by_thread.items():
        if label == loop_label:
            continue
        for frames, all_count, active_count in rows:
            count = max(all_count, active_count)
            if count and in_model_call(frames):
                samples += count
                threads.add(label)
                entry = next((f for f in frames if frame_category(f) == MODEL), frames[-1])
                entries[entry.describe_site(root)] += count
    return {
        "samples": samples,
        "threads": sorted(threads),
        "entry": entries.most_common(1)[0][0] if entries else None,
    }


def notable_places(places: Iterable[LivePlace], samples: int) -> list[LivePlace]:
    """The top three places that hold at least 1% of the samples (and two samples)."""
    floor = max(2, 0.01 * samples)
    return [p for p in places if p.samples >= floor][:3]


def describe_places(places: Iterable[LivePlace], samples: int) -> list[str]:
    """`62% in `expand_features` (app/features.py:31, service code; 95% CI 57–66%)`."""
    described = []
    for place in places:
        low, high = wilson_interval(place.samples, samples)
        described.append(
            f"{place.samples / samples:.0%} in `{place.function}` ({place.site}, "
            f"{place.category}; {CONFIDENCE:.0%} CI {low:.0%}–{high:.0%})"
        )
    return described
