"""What diagnose reads of each check's measurements, parsed once into typed values.

A check's report carries its engine's measurements as the JSON contract's tree: that is what
a saved incident holds and what `--replay` reads back. Diagnose never looks keys up in that
tree; this module is the one boundary that does, into frozen values that the plan, the
coverage of each check, the judge and the incident layout read by attribute. A block that is
missing or has another shape reads as absent (None, empty), never as a crash, so an incident
saved by an older version is judged the same way.

The profile part is a thin accessor over the profile report's measurements until the profile
engine's own typed phase results reach its report; then `ProfileMeasured.of` reads those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infermedic.errors import InfermedicError
from infermedic.model import Report
from infermedic.profile.results import ProfileResults
from infermedic.report.diagnosis_view import LatencySummary
from infermedic.report.terminal import format_cell

MIN_LIVE_SAMPLES = 50  # py-spy samples below which the stack shares mean little


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStatus:
    """How an engine's own run ended: `complete`, `partial` (a rule crashed) or `failed`."""

    status: str | None
    rules_failed: tuple[str, ...]

    @classmethod
    def of(cls, report: Report) -> RunStatus:
        m = report.measurements
        status = m.get("status")
        return cls(
            status=status if isinstance(status, str) else None,
            rules_failed=tuple(str(code) for code in _list(m.get("rules_failed"))),
        )


# -- probe -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerStage:
    """A stage's mean server-side time, from the `Server-Timing`/`x-*-time` headers."""

    name: str
    mean_ms: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeLoad:
    """The open-loop load run, as diagnose reads it."""

    latency: LatencySummary | None
    trustworthy: bool  # the generator kept its schedule
    late_send_fraction: float | None
    max_send_lag_ms: float | None
    server_stages: tuple[ServerStage, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeMeasured:
    """What diagnose reads of a probe report."""

    predict_path: str | None
    load: ProbeLoad | None
    model_versions: tuple[tuple[str, str], ...]  # (where it was read, version)
    saturated_phases: tuple[str, ...] | None  # the generator was saturated in these; else None

    @classmethod
    def of(cls, report: Report) -> ProbeMeasured:
        m = report.measurements
        routes = _mapping(m.get("routes"))
        contract = _mapping(m.get("contract"))
        generator = _mapping(m.get("generator"))
        return cls(
            predict_path=_str(routes.get("predict")),
            load=_probe_load(m.get("load")),
            model_versions=tuple(
                (str(entry.get("source")), str(entry.get("version")))
                for entry in map(_mapping, _list(contract.get("model_versions")))
                if entry.get("version")
            ),
            saturated_phases=tuple(
                name
                for name, stats in _mapping(generator.get("phases")).items()
                if _mapping(stats).get("saturated")
            )
            if generator.get("saturated")
            else None,
        )

    def generator_lag(self) -> str | None:
        """Why the probe's own load generator may have measured itself: it fell behind its
        schedule, or was saturated (its own CPU or event-loop lag) in some phase."""
        if self.load is not None and not self.load.trustworthy:
            late = self.load.late_send_fraction
            shown = f"{late:.0%}" if late is not None else "some"
            return (
                f"the load generator fell behind its schedule ({shown} of sends late, "
                f"up to {self.load.max_send_lag_ms} ms)"
            )
        if self.saturated_phases is not None:
            busy = ", ".join(self.saturated_phases) or "some phase"
            return f"the load generator was saturated ({busy})"
        return None

    def model_rows(self) -> list[tuple[str, str]]:
        """What is known of the model: the version served and the server-side time split."""
        rows = [(f"model version ({source})", version) for source, version in self.model_versions]
        if self.load is not None:
            rows.extend(
                (f"server stage `{s.name}` mean", f"{format_cell(s.mean_ms)} ms")
                for s in self.load.server_stages
            )
        return rows


def _probe_load(value: Any) -> ProbeLoad | None:
    if not isinstance(value, Mapping):
        return None
    latency = _mapping(value.get("latency"))
    return ProbeLoad(
        latency=LatencySummary(
            p50_ms=_number(latency.get("p50_ms")),
            p95_ms=_number(latency.get("p95_ms")),
            p99_ms=_number(latency.get("p99_ms")),
            max_ms=_number(latency.get("max_ms")),
            throughput_rps=_number(value.get("throughput_rps")),
            requests=_int(latency.get("count")),
        )
        if "p50_ms" in latency
        else None,
        trustworthy=bool(value.get("percentiles_trustworthy", True)),
        late_send_fraction=_number(value.get("late_send_fraction")),
        max_send_lag_ms=_number(value.get("max_send_lag_ms")),
        server_stages=tuple(
            ServerStage(
                name=str(name),
                mean_ms=_number(stage.get("mean_ms") if isinstance(stage, Mapping) else stage),
            )
            for name, stage in _mapping(value.get("server_timing")).items()
        ),
    )


# -- audit (the repository) ---------------------------------------------------------------------

# Frameworks whose handlers never share an event loop: a WSGI server runs each request on a
# worker thread or process (Flask's own `async def` views run on a loop per request, in that
# thread), so nothing one request does can stall a loop the others wait on.
WSGI_FRAMEWORKS = frozenset({"flask"})


def static_no_event_loop(report: Report) -> str | None:
    """Why the repository's server runs no event loop, read from the audit's route index; None
    when it may run one (an ASGI framework, a middleware route, a green-thread server, no
    routes found, or an audit too old to say)."""
    m = report.measurements
    routes = m.get("routes")
    green = m.get("green_threads")
    if not isinstance(routes, list) or not routes or not isinstance(green, list) or green:
        return None
    if m.get("python_files_parsed") != m.get("python_files"):
        return None  # a file the index could not read may hold the routes of an ASGI app
    frameworks = {r.get("framework") if isinstance(r, Mapping) else None for r in routes}
    if not frameworks <= WSGI_FRAMEWORKS:
        return None
    names = ", ".join(sorted(str(f).capitalize() for f in frameworks))
    return (
        f"the audit indexed {len(routes)} route(s), all {names} (WSGI) handlers, and no "
        "gevent or eventlet server: the service runs no event loop"
    )


# -- profile (the model artifact, in a worker; or a live process, sampled) ---------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerRun:
    """How the profile worker process ended."""

    timed_out: bool
    memory_exceeded: bool
    last_phase: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveSampling:
    """py-spy sampling of a running service: how many samples, and whether a thread ran an
    event loop."""

    samples: int
    loop_thread: bool
    busy_samples: int = 0  # samples in which a thread was not idle
    children: int = 0  # child processes of the sampled one (a server's forked workers)
    green_threads: bool = False  # gevent/eventlet frames: a loop py-spy does not recognise

    def no_event_loop(self) -> str | None:
        """Why the sampled process measurably runs no event loop, or None when it may.

        Only a process that did the work itself (busy while sampled, no forked workers that
        could hold the loop instead) and shows no green-thread hub counts: anything less is
        no evidence about the process that serves."""
        if self.loop_thread or self.children or self.green_threads:
            return None
        if self.samples < MIN_LIVE_SAMPLES or self.busy_samples < MIN_LIVE_SAMPLES:
            return None
        return (
            f"py-spy sampled the serving process while it worked ({self.busy_samples} busy "
            f"of {self.samples} samples, no child processes) and no thread ran an event loop"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileMeasured:
    """What diagnose reads of a profile report (the model profile or `--pid` sampling)."""

    status: str | None
    phases: frozenset[str]  # the phases that produced results without an error
    worker: WorkerRun | None
    live: LiveSampling | None

    @classmethod
    def of(cls, report: Report) -> ProfileMeasured:
        m = report.measurements
        worker = m.get("worker")
        live = m.get("live")
        return cls(
            status=_str(m.get("status")),
            phases=_profile_phases(m),
            worker=WorkerRun(
                timed_out=bool(worker.get("timed_out")),
                memory_exceeded=bool(worker.get("memory_exceeded")),
                last_phase=_str(worker.get("last_phase")),
            )
            if isinstance(worker, Mapping)
            else None,
            live=LiveSampling(
                samples=_total_samples(live),
                loop_thread=live.get("loop_thread") is not None,
                busy_samples=_busy_samples(live),
                children=len(live.get("child_pids") or ()),
                green_threads=_green_threads(live),
            )
            if isinstance(live, Mapping)
            else None,
        )

    def ran(self, phase: str) -> bool:
        return phase in self.phases

    @property
    def cut_by_budget(self) -> bool:
        """The time budget cut the run (not the memory limit): its phases that ran count."""
        w = self.worker
        return self.status == "partial" and w is not None and w.timed_out and not w.memory_exceeded

    @property
    def failed_at_first_call(self) -> bool:
        """The model raised on its first call (not a hang, the memory limit or a crash)."""
        w = self.worker
        return (
            self.status == "failed"
            and w is not None
            and w.last_phase == "first-call"
            and not w.timed_out
            and not w.memory_exceeded
        )


def _profile_phases(measurements: Mapping[str, Any]) -> frozenset[str]:
    """The model-profile phases with results, read through the profile's own typed results
    (`ProfileResults`); a saved report whose phases do not parse (another version) falls back
    to the phases present without an error."""
    try:
        return frozenset(ProfileResults.from_phases(measurements).to_phases())
    except InfermedicError:
        return frozenset(
            str(name)
            for name, value in measurements.items()
            if isinstance(value, Mapping) and value and "error" not in value
        )


def _threads(live: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    threads = live.get("threads")
    return [t for t in threads if isinstance(t, Mapping)] if isinstance(threads, list) else []


def _busy_samples(live: Mapping[str, Any]) -> int:
    return sum(
        max(0, int(t.get("samples", 0)) - int(t.get("idle_samples", 0))) for t in _threads(live)
    )


# Green-thread servers (gunicorn's gevent/eventlet workers) run a hub py-spy does not read as
# an asyncio loop, yet CPU work in a handler blocks it just the same.
_GREEN = ("gevent", "eventlet", "greenlet")


def _green_threads(live: Mapping[str, Any]) -> bool:
    for thread in _threads(live):
        frames = thread.get("top_frames")
        for frame in frames if isinstance(frames, list) else []:
            text = str(frame.get("frame", "")) if isinstance(frame, Mapping) else ""
            if any(name in text for name in _GREEN):
                return True
    return False


def _total_samples(live: Mapping[str, Any]) -> int:
    for key in ("samples", "total_samples", "sample_count"):
        value = live.get(key)
        if isinstance(value, int | float):
            return int(value)
        if isinstance(value, Mapping):
            total = value.get("total")
            if isinstance(total, int | float):
                return int(total)
    threads = live.get("threads")
    if isinstance(threads, list):
        return sum(int(t.get("samples", 0)) for t in threads if isinstance(t, Mapping))
    return MIN_LIVE_SAMPLES  # unknown layout: do not claim a lack of power we cannot see


# -- reading the tree ---------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    """A measured number as it was written (an int stays an int: the views format it)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
