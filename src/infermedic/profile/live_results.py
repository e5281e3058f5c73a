"""What `profile --pid` measured: a live service's py-spy samples summarised per thread, as
typed frozen data PROF013 and PROF014 judge.

`attribution.summarise` counts the samples; `LiveSummary.from_summary` types that summary
(with the load driven and the sampling settings) before any rule or table reads it. It
round-trips through JSON (`to_json`/`from_json`, with `format` and `schema_version`), and the
report keeps it under `measurements["live"]` (`to_dict`; `LiveSummary.from_report` reads a
saved report back).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infermedic.errors import InputError
from infermedic.profile.results import adapter, read_tagged
from infermedic.profile.stacks import BLOCKING, LOCK

LIVE_FORMAT = "infermedic-live-summary"
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveTopFrame:
    category: str
    frame: str
    samples: int


@dataclass(frozen=True, kw_only=True, slots=True)
class LivePlace:
    """Where the event-loop thread was held: the innermost frame of the service's own code
    (or the library doing the work), with its samples on and off CPU."""

    function: str
    site: str  # file:line, shortened
    category: str
    own_code: bool = False
    path: str | None = None
    line: int | None = None
    file: str | None = None
    frame: str = ""
    code: str = ""  # the hot line's source, when readable
    samples: int = 0  # held: on CPU, or blocked in a call that waits
    on_cpu: int = 0
    blocked: int = 0
    waiting: int = 0  # off CPU at a line that calls nothing blocking (the GIL)
    via: str | None = None  # the service function that called it
    calls: str | None = None  # the call it made


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveThread:
    """One sampled thread. The event-loop thread also says what held it (`places`)."""

    name: str
    event_loop: bool = False
    samples: int = 0
    idle_samples: int = 0
    category_samples: Mapping[str, int] = field(default_factory=dict)
    category_shares: Mapping[str, float] = field(default_factory=dict)
    busy_share: float = 0.0
    top_frames: tuple[LiveTopFrame, ...] = ()
    lock_wait_samples: int = 0
    lock_wait_frames: Mapping[str, int] = field(default_factory=dict)
    request_samples: int = 0
    # the event-loop thread only
    held_samples: int = 0
    awaiting_samples: int = 0
    framework_samples: int = 0
    waiting_samples: int = 0
    places: tuple[LivePlace, ...] = ()
    place_count: int = 0
    model_samples: int = 0
    loop_blocking_share: float | None = None

    def on_cpu_work(self) -> int:
        """On-CPU samples outside lock and I/O waits (py-spy sometimes sees a waiting
        thread on CPU for a moment)."""
        return sum(
            int(count)
            for category, count in self.category_samples.items()
            if category not in {LOCK, BLOCKING}
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelOffLoop:
    """Samples inside a model library's call on threads other than the loop's."""

    samples: int = 0
    threads: tuple[str, ...] = ()
    entry: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveLoad:
    """The load `--url` drove while sampling."""

    url: str | None = None
    requests: int = 0
    errors: int = 0
    median_latency_s: float | None = None
    concurrency: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveSummary:
    """Every thread of one sampled process, and the event-loop thread when there is one."""

    schema_version: int = SCHEMA_VERSION
    threads: tuple[LiveThread, ...] = ()
    loop_thread: LiveThread | None = None
    model_off_loop: ModelOffLoop = field(default_factory=ModelOffLoop)
    load: LiveLoad | None = None
    duration_s: float | None = None
    rate_hz: int | None = None
    child_pids: tuple[int, ...] = ()

    def request_threads(self) -> list[LiveThread]:
        """The threads that are not the event loop (a thread pool's request handlers)."""
        return [t for t in self.threads if not t.event_loop]

    def busiest_other_thread(self) -> LiveThread | None:
        return max(self.request_threads(), key=LiveThread.on_cpu_work, default=None)

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> LiveSummary:
        """The typed form of `attribution.summarise`'s summary (plus `load`, `duration_s`,
        `rate_hz`, `child_pids` where known); `InputError` when it does not parse."""
        from pydantic import ValidationError

        try:
            typed: LiveSummary = adapter(cls).validate_python(dict(summary))
        except ValidationError as exc:
            raise InputError(f"the live summary does not parse: {exc}") from exc
        return typed

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> LiveSummary | None:
        """The summary of a saved `profile --pid` report's JSON; None for a model profile."""
        measurements = report.get("measurements", report)
        live = measurements.get("live") if isinstance(measurements, Mapping) else None
        return cls.from_summary(live) if isinstance(live, Mapping) else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = adapter(LiveSummary).dump_python(self, mode="json")
        return data

    def to_json(self) -> str:
        return json.dumps({"format": LIVE_FORMAT, **self.to_dict()}, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> LiveSummary:
        """Read a saved summary; another format or schema version is an `InputError`."""
        document = read_tagged(text, LIVE_FORMAT, "the live summary", SCHEMA_VERSION)
        return cls.from_summary({k: v for k, v in document.items() if k != "format"})
