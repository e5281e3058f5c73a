"""The worker's JSON-lines protocol, typed at the process boundary.

The worker writes one JSON object per line on its protocol stream (`encode`); the parent turns
each line into one of these frozen events (`decode`) before anything reads it, so the engine
matches on types, not on dict keys. A phase's measurements travel in `PhaseResult.data`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class PhaseStarted:
    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PhaseResult:
    phase: str
    data: Any  # the phase's measurements (JSON)


@dataclass(frozen=True, kw_only=True, slots=True)
class Progress:
    phase: str
    fraction: float


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerNote:
    level: str  # note | warning | error
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerFailure:
    """Why the worker stopped early: `kind` is `memory`, a `LoadFailure` kind, or `error`."""

    phase: str
    kind: str
    message: str
    error_type: str = ""
    hint: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Done:
    pass


WorkerEvent = PhaseStarted | PhaseResult | Progress | WorkerNote | WorkerFailure | Done

_NAMES: dict[type[Any], str] = {
    PhaseStarted: "phase",
    PhaseResult: "result",
    Progress: "progress",
    WorkerNote: "notification",
    WorkerFailure: "failure",
    Done: "done",
}
_TYPES = {name: kind for kind, name in _NAMES.items()}


def encode(event: WorkerEvent) -> str:
    """One protocol line (without its newline); NumPy values become plain JSON."""
    return json.dumps({"event": _NAMES[type(event)], **asdict(event)}, default=_jsonable)


def decode(line: str) -> WorkerEvent | None:
    """The event a protocol line carries; None for a line that is not one (the model's own
    output never reaches this stream, but a torn or foreign line must not end the run)."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, Mapping):
        return None
    kind = _TYPES.get(str(raw.get("event")))
    if kind is None:
        return None
    known = {f.name for f in fields(kind)}
    try:
        event: WorkerEvent = kind(**{k: v for k, v in raw.items() if k in known})
    except TypeError:
        return None  # a field missing
    return event


def _jsonable(value: Any) -> Any:
    # `tolist` first: NumPy arrays and scalars both have it (an array's `item` raises)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
