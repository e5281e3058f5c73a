"""py-spy stacks as data: frames, what kind of work a stack does, and whose code it is in.

Shared by live sampling of a service (`live`, `attribution`) and by the stage sampling of a
model call in the worker (`sampling`). Everything here reads text; nothing runs py-spy.
"""

from __future__ import annotations

import linecache
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

Stack = tuple[str, tuple[str, ...]]  # (thread label, frames outermost first)
# `(path, line) -> source text`: how a waiting line is read; tests pass recorded sources.
SourceLookup = Callable[[str, int], str]

MODEL = "model compute"
PREPROCESSING = "preprocessing and validation"
SERIALISATION = "serialisation"
BLOCKING = "blocking I/O, database call or sleep"
LOCK = "lock wait"
LIBRARY = "library code"
SERVICE_CODE = "service code"
FRAMEWORK = "server and framework"
OTHER = "other Python"
AWAITING = "awaiting (idle loop)"
# A thread off CPU outside its selector at a line that calls nothing blocking: in a busy
# process that is the GIL (or the OS scheduler), not work of its own.
WAITING = "waiting for the GIL or CPU (likely)"
BUSY_CATEGORIES = (MODEL, PREPROCESSING, SERIALISATION, BLOCKING, LOCK)

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
            "/pymysql/",
            "/redis/",
            "/pymongo/",
            "/httpx/",
            "/httpcore/",
            "/boto3/",
            "/botocore/",
            "/subprocess.py",
        ),
    ),
    (LOCK, ("/threading.py", "/queue.py", "/concurrent/futures/_base.py")),
)
_LOCK_FUNCTIONS = frozenset({"acquire", "wait", "join", "get", "put", "result", "__enter__"})
# The server, framework and event-loop plumbing every request runs through. Time there with
# no service frame on the stack is the loop's own work, not a place to move off it.
_FRAMEWORK = (
    "/uvicorn/",
    "/starlette/",
    "/fastapi/",
    "/asyncio/",
    "/anyio/",
    "/sniffio/",
    "/h11/",
    "/httptools/",
    "/uvloop/",
    "/gunicorn/",
    "/hypercorn/",
    "/click/",
    "/quart/",
    "/werkzeug/",
    "/aiohttp/",
)
LOOP_MARKERS = ("/asyncio/base_events.py", "/asyncio/runners.py", "/uvicorn/server.py", "/uvloop/")
_AWAIT_INNERMOST = ("/selectors.py", "/asyncio/base_events.py", "/asyncio/runners.py", "/uvloop/")
_MODEL_FUNCTIONS = {"predict", "predict_proba", "decision_function", "forward", "run"}
# A line that calls something which waits: sleep, socket and file I/O, a database driver,
# an HTTP client, a lock, a future or a subprocess. Read from the source of a frame that
# was off CPU, to tell a blocking call from a wait for the GIL.
_BLOCKING_LINE = re.compile(
    r"(\bsleep|\brecv\w*|\bsendall|\bsend|\.read\w*|\.write\w*|\.flush|\.execute\w*|"
    r"\.fetch\w*|\.commit|\.rollback|\.connect|\burlopen|\.communicate|\bcheck_output|"
    r"\bcheck_call|\bsubprocess\.\w+|\b(?:requests|httpx)\.\w+|\.request|\bselect|\.poll|"
    r"\bgetaddrinfo|\bopen)\s*\(",
    re.IGNORECASE,
)
_LOCK_LINE = re.compile(
    r"\.acquire\s*\(|\bwith\b.*lock|\.wait\w*\s*\(|\.result\s*\(", re.IGNORECASE
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Frame:
    function: str
    path: str
    line: int | None

    def describe(self) -> str:
        return f"{self.function} ({self.path}:{self.line})" if self.line else self.function

    def site(self, root: str | None = None) -> str:
        """`file:line` with the path shortened for reading (see `display_path`)."""
        where = display_path(self.path, root)
        return f"{where}:{self.line}" if self.line else where

    def describe_site(self, root: str | None = None) -> str:
        """`func (file:line)` with the shortened path."""
        return f"{self.function} ({self.site(root)})"


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


def _norm(path: str) -> str:
    return path.replace("\\", "/")


def frame_category(frame: Frame) -> str | None:
    """The category one frame's file marks, if any (a lock file only for its waiting calls)."""
    path = _norm(frame.path)
    for category, fragments in _PATTERNS:
        if any(fragment in path for fragment in fragments):
            if category == LOCK and frame.function.split(".")[-1] not in _LOCK_FUNCTIONS:
                continue
            return category
    return None


def classify(frames: tuple[Frame, ...]) -> str:
    """The category of a sample: its innermost frame in a recognised library."""
    for frame in reversed(frames):
        category = frame_category(frame)
        if category is not None:
            return category
    # A frame named like a model method is model compute only below the service's entry
    # point (the route handler itself is often called `predict`), and never a server's or
    # the standard library's own `run` (uvicorn's `Server.run`, `Thread.run`).
    first_own = next((i for i, f in enumerate(frames) if is_own_code(f)), None)
    below_entry = frames[first_own + 1 :] if first_own is not None else frames
    if any(
        f.function.split(".")[-1] in _MODEL_FUNCTIONS and not is_framework(f) and not is_stdlib(f)
        for f in below_entry
    ):
        return MODEL
    if frames and is_framework(frames[-1]):
        return FRAMEWORK
    return OTHER


def calls_model(below: tuple[Frame, ...]) -> bool:
    """Whether frames below a service frame are a model call: a model library's frame, or
    a library method named like one (a scikit-learn `Pipeline.predict`, whose steps'
    preprocessing is part of the call)."""
    return any(
        frame_category(f) == MODEL
        or (
            f.function.split(".")[-1] in _MODEL_FUNCTIONS
            and package_of(f) is not None
            and not is_framework(f)
        )
        for f in below
    )


def in_model_call(frames: tuple[Frame, ...]) -> bool:
    """Whether a stack is inside a model library's call, at any depth (its innermost frame
    may be the library's input validation)."""
    return any(frame_category(f) == MODEL for f in frames) or classify(frames) == MODEL


def is_own_code(frame: Frame) -> bool:
    """A frame of the service's own code: outside site-packages and the standard library."""
    path = _norm(frame.path)
    return bool(path) and not (
        "-packages/" in path or "/lib/python3" in path or path.startswith("<")
    )


def is_stdlib(frame: Frame) -> bool:
    path = _norm(frame.path)
    return path.startswith("<") or ("/lib/python3" in path and "-packages/" not in path)


def is_framework(frame: Frame) -> bool:
    path = _norm(frame.path)
    return any(fragment in path for fragment in _FRAMEWORK)


def package_of(frame: Frame) -> str | None:
    """The top-level package of a site-packages frame (`bcrypt`, `fastapi`), else None."""
    path = _norm(frame.path)
    _, sep, rest = path.partition("-packages/")
    if not sep:
        return None
    head = rest.split("/", 1)[0]
    return head.removesuffix(".py") or None


def display_path(path: str, root: str | None = None) -> str:
    """A path short enough to read: a library's from its package, the standard library's
    from `lib/pythonX.Y/`, the service's relative to `root` (the service's working
    directory) when it lies below it, else as sampled."""
    norm = _norm(path)
    if root:
        base = _norm(root).rstrip("/") + "/"
        if norm.startswith(base):
            return norm[len(base) :]
    if "-packages/" in norm:
        return norm.split("-packages/", 1)[1]
    match = re.search(r"/lib/python3[.\d]*/", norm)
    if match:
        return norm[match.end() :]
    return norm


def is_loop_thread_stack(frames: tuple[Frame, ...]) -> bool:
    return any(any(m in f.path for m in LOOP_MARKERS) for f in frames)


def is_awaiting(frames: tuple[Frame, ...]) -> bool:
    """The loop waiting for events: its innermost Python frame is the selector or the loop's
    own run call (uvloop's wait is in C, below `run_until_complete`)."""
    return bool(frames) and any(m in frames[-1].path for m in _AWAIT_INNERMOST)


def read_line(path: str, line: int) -> str:
    return linecache.getline(path, line)


def waits_in_a_blocking_call(frames: tuple[Frame, ...], source: SourceLookup) -> str | None:
    """Why a stack off CPU is waiting, when it is a call that waits: `BLOCKING` or `LOCK`
    (from the library frame, or from the innermost line's source), `MODEL` (a model library
    waiting on its own threads). None: nothing blocking is visible, so the wait is most
    likely for the GIL or a CPU."""
    category = classify(frames)
    if category in {BLOCKING, LOCK, MODEL}:
        return category
    innermost = frames[-1] if frames else None
    if innermost is None or not innermost.line:
        return None
    text = source(innermost.path, innermost.line)
    if _LOCK_LINE.search(text):
        return LOCK
    if _BLOCKING_LINE.search(text):
        return BLOCKING
    return None


def waiting_category(frames: tuple[Frame, ...], source: SourceLookup = read_line) -> str:
    """Why an idle sample outside the loop's own wait is waiting (for worker threads, whose
    idle samples inside request code are I/O or locks more often than the GIL)."""
    category = classify(frames)
    if category in {BLOCKING, LOCK}:
        return category
    innermost = frames[-1] if frames else None
    if innermost is not None and innermost.line:
        text = source(innermost.path, innermost.line).lower()
        if any(word in text for word in ("acquire", "lock", ".wait(", ".result(", ".join(")):
            return LOCK
    return BLOCKING


def top_frame(frames: tuple[Frame, ...], root: str | None = None) -> str:
    """The innermost frame outside the standard library's plumbing, as `func (file:line)`."""
    for frame in reversed(frames):
        if "/threading.py" in frame.path or "/selectors.py" in frame.path:
            continue
        return frame.describe_site(root)
    return frames[-1].describe_site(root) if frames else "-"
