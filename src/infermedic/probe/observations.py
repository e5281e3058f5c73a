"""What a probe run measured, frozen and typed: the only input of the LIVE rules.

The engine measures into mutable accumulators (`probe.context`), then builds one
`ProbeObservations` with `observe(ctx)`; every LIVE rule is `check(observations)`. The object
round-trips through JSON (`to_json`/`from_json`, schema-versioned, secrets already redacted),
so a recorded run is a rule fixture (`tests/fixtures/live/LIVE*.json`) and judging never needs
the service. Latency histograms are kept as their percentile summaries: what the rules read.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, TypeAdapter

from infermedic.errors import InputError
from infermedic.model import Location
from infermedic.probe.histogram import MIN_SAMPLES_P999, PERCENTILES, percentile_key
from infermedic.probe.http import Exchange, Redactor
from infermedic.probe.loadgen import StepResult
from infermedic.probe.metrics import StageTime
from infermedic.probe.plan import Thresholds

if TYPE_CHECKING:
    from infermedic.probe.context import ProbeContext
    from infermedic.probe.histogram import LatencyHistogram

SCHEMA_VERSION = 1
# bytes (response bodies) as base64 and NaN (an empty histogram's percentiles) as a string,
# so the JSON is strict and the round trip exact
JSON_CONFIG = ConfigDict(
    ser_json_bytes="base64", val_json_bytes="base64", ser_json_inf_nan="strings"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Latency:
    """An HDR histogram's summary in ms: the count and the percentiles the rules read."""

    count: int
    mean_ms: float
    min_ms: float
    p10_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p99_9_ms: float
    max_ms: float

    @classmethod
    def of(cls, hist: LatencyHistogram) -> Latency:
        return cls(
            count=hist.count,
            mean_ms=hist.mean_ms(),
            min_ms=hist.min_ms(),
            p10_ms=hist.percentile_ms(10),
            p50_ms=hist.percentile_ms(50),
            p90_ms=hist.percentile_ms(90),
            p95_ms=hist.percentile_ms(95),
            p99_ms=hist.percentile_ms(99),
            p99_9_ms=hist.percentile_ms(99.9),
            max_ms=hist.max_ms(),
        )

    def percentile_ms(self, percentile: float) -> float:
        value: float = getattr(self, percentile_key(percentile))  # AttributeError: not kept
        return value

    def summary(self) -> dict[str, Any]:
        """As `LatencyHistogram.summary`: count, mean, p50..p99.9 and max in ms."""
        data: dict[str, Any] = {"count": self.count}
        if self.count == 0:
            return data
        data["mean_ms"] = round(self.mean_ms, 3)
        data["min_ms"] = round(self.min_ms, 3)
        for percentile in PERCENTILES:
            key = percentile_key(percentile)
            under = percentile == 99.9 and self.count < MIN_SAMPLES_P999
            data[key] = None if under else round(self.percentile_ms(percentile), 3)
        data["max_ms"] = round(self.max_ms, 3)
        return data

    def text(self) -> str:
        return (
            f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
            f"max {self.max_ms:.1f} ms over {self.count} requests"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class HeaderStage:
    """A stage's mean time from the `Server-Timing`/`x-*-time` headers of the load run."""

    mean_ms: float
    responses: int


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadObservation:
    """The open-loop load run of the known-good request."""

    rate: float
    duration_s: float
    workers: int
    trustworthy: bool  # the generator kept its schedule (percentiles are the service's)
    latency: Latency  # from the intended send time (coordinated-omission free)
    service: Latency  # from the actual send
    requests: int
    errors: int
    statuses: Mapping[int, int] = field(default_factory=dict)  # status (0: none) → count
    max_lag_s: float = 0.0
    stages: tuple[StageTime, ...] = ()  # from `/metrics` deltas
    header_stages: Mapping[str, HeaderStage] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class CanaryPhase:
    """The health canary's timings in one phase (idle, or under predict load)."""

    latency: Latency
    service: Latency


@dataclass(frozen=True, kw_only=True, slots=True)
class BlockingObservation:
    """The event-loop check: the canary idle and loaded, predict at concurrency 1 and N."""

    health_path: str
    canary_rate: float
    idle: CanaryPhase
    loaded: CanaryPhase
    single: StepResult
    concurrent: StepResult


@dataclass(frozen=True, kw_only=True, slots=True)
class ContractObservation:
    """The contract check: health, readiness, metrics, one known-good prediction, versions."""

    liveness: Exchange | None = None
    readiness: Exchange | None = None
    metrics: Exchange | None = None
    metrics_error: str | None = None
    prediction: Exchange | None = None
    versions: tuple[tuple[str, str], ...] = ()  # (source, version)
    unauthenticated: Exchange | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class MemorySample:
    at_s: float
    rss_bytes: float
    source: str  # "psutil pid 1234" | "/metrics process_resident_memory_bytes"


@dataclass(frozen=True, kw_only=True, slots=True)
class RobustnessCase:
    """One varied or malformed request and its answer.

    `kind` is `malformed` (must get a 4xx) or `omitted`/`null`/`boundary` (a production-like
    variation: `valid` says whether the schema says it must be accepted). `recheck` is the
    same request again on a fresh connection after a 5xx or no answer; the case counts as a
    server error only when the recheck fails too. `non_json` marks a body with NaN or
    Infinity, which JSON (RFC 8259) has no numbers for.
    """

    name: str
    exchange: Exchange
    kind: str = "malformed"
    field: str | None = None
    body: Any = None
    valid: bool | None = None
    non_json: bool = False
    recheck: Exchange | None = None
    raw: bytes | None = None  # a malformed case's exact bytes, while measuring
    content_type: str = "application/json"

    @property
    def failed(self) -> bool:
        """A 5xx or no answer, reproduced on a fresh connection when it was re-checked."""
        first = self.exchange.status == 0 or self.exchange.status >= 500
        if not first or self.recheck is None:
            return first
        return self.recheck.status == 0 or self.recheck.status >= 500

    @property
    def transient(self) -> bool:
        """A 5xx that a fresh connection did not reproduce."""
        first = self.exchange.status == 0 or self.exchange.status >= 500
        return first and self.recheck is not None and not self.failed


@dataclass(frozen=True, kw_only=True, slots=True)
class BodyMemoryPhase:
    """Resident memory around one phase of the body-cache check."""

    kind: str  # identical | distinct
    round: int
    requests: int
    errors: int
    rss_before: float
    rss_after: float
    source: str
    body_example: Any = None
    median_ms: float | None = None  # median time to answer one request of the phase

    @property
    def growth(self) -> float:
        return self.rss_after - self.rss_before


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeObservations:
    """Everything one probe run measured, as the LIVE rules read it."""

    schema_version: int = SCHEMA_VERSION
    base_url: str
    predict_path: str | None
    liveness_path: str | None = None
    readiness_path: str | None = None
    body_source: str | None = None  # where the request body came from, when not --input
    user_input: bool = False  # the known-good body was the user's (`--input`)
    expect_version: str | None = None
    rate: float = 0.0  # the planned open-loop rate
    thresholds: Thresholds = field(default_factory=Thresholds)
    detection: Mapping[str, Exchange] = field(default_factory=dict)  # path → GET answer
    contract: ContractObservation | None = None
    load: LoadObservation | None = None
    sweep: tuple[StepResult, ...] = ()
    blocking: BlockingObservation | None = None
    robustness: tuple[RobustnessCase, ...] = ()
    repeats: tuple[Exchange, ...] = ()
    memory: tuple[MemorySample, ...] = ()
    body_memory: tuple[BodyMemoryPhase, ...] = ()
    # seconds (on the memory clock) when requests other than the identical known-good body
    # began; memory samples after it are not the load run's
    identical_load_end_s: float | None = None

    __pydantic_config__ = JSON_CONFIG

    def location(self, path: str | None, method: str = "POST") -> Location:
        if path is None:
            return Location(url=self.base_url)
        return Location(url=self.base_url + path, endpoint=f"{method} {path}")

    def predict_location(self) -> Location:
        return self.location(self.predict_path)

    def to_json(self) -> str:
        return _adapter().dump_json(self, indent=1).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> ProbeObservations:
        """Read saved observations; another schema version or a malformed file is an
        `InputError`."""
        from pydantic import ValidationError

        try:
            version = json.loads(text).get("schema_version")
        except (ValueError, AttributeError) as exc:
            raise InputError(f"probe observations are not a JSON object: {exc}") from exc
        if version != SCHEMA_VERSION:
            raise InputError(
                f"probe observations have schema version {version!r}, "
                f"this infermedic reads {SCHEMA_VERSION}"
            )
        try:
            return _adapter().validate_json(text)
        except ValidationError as exc:
            raise InputError(f"probe observations do not parse: {exc}") from exc


@cache
def _adapter() -> TypeAdapter[ProbeObservations]:
    return TypeAdapter(ProbeObservations)


def observe(ctx: ProbeContext) -> ProbeObservations:
    """The frozen observations of a finished run, with every secret redacted."""
    redact = ctx.redact
    service = ctx.service
    contract = ctx.contract
    load = ctx.load
    blocking = ctx.blocking
    return ProbeObservations(
        base_url=ctx.base_url,
        predict_path=service.predict_path,
        liveness_path=service.liveness_path,
        readiness_path=service.readiness_path,
        body_source=service.body_source,
        user_input=ctx.plan.input_body is not None,
        expect_version=ctx.plan.expect_version,
        rate=ctx.plan.rate,
        thresholds=ctx.thresholds,
        detection={p: redacted(e, redact) for p, e in service.exchanges.items()},
        contract=None
        if contract is None
        else ContractObservation(
            liveness=_maybe(contract.liveness, redact),
            readiness=_maybe(contract.readiness, redact),
            metrics=_maybe(contract.metrics, redact),
            metrics_error=contract.metrics_error,
            prediction=_maybe(contract.prediction, redact),
            versions=tuple((redact(s), redact(v)) for s, v in contract.versions),
            unauthenticated=_maybe(contract.unauthenticated, redact),
        ),
        load=None
        if load is None
        else LoadObservation(
            rate=load.rate,
            duration_s=load.duration_s,
            workers=load.workers,
            trustworthy=load.trustworthy,
            latency=Latency.of(load.recorder.latency),
            service=Latency.of(load.recorder.service),
            requests=load.recorder.requests,
            errors=load.recorder.errors,
            statuses=dict(load.recorder.statuses),
            max_lag_s=load.recorder.max_lag_s,
            stages=tuple(load.stages),
            header_stages={
                stage: HeaderStage(
                    mean_ms=round(load.recorder.stage_sum_ms[stage] / count, 3), responses=count
                )
                for stage, count in load.recorder.stage_count.items()
                if count
            },
        ),
        sweep=tuple(ctx.sweep),
        blocking=None
        if blocking is None
        else BlockingObservation(
            health_path=blocking.health_path,
            canary_rate=ctx.plan.canary_rate,
            idle=CanaryPhase(
                latency=Latency.of(blocking.idle.latency), service=Latency.of(blocking.idle.service)
            ),
            loaded=CanaryPhase(
                latency=Latency.of(blocking.loaded.latency),
                service=Latency.of(blocking.loaded.service),
            ),
            single=blocking.single,
            concurrent=blocking.concurrent,
        ),
        robustness=tuple(
            replace(
                case,
                exchange=redacted(case.exchange, redact),
                recheck=_maybe(case.recheck, redact),
                raw=None,  # the exact bytes were for the re-check (up to megabytes)
            )
            for case in ctx.robustness
        ),
        repeats=tuple(redacted(e, redact) for e in ctx.repeats),
        memory=tuple(ctx.memory),
        body_memory=tuple(ctx.body_memory),
        identical_load_end_s=ctx.identical_load_end_s,
    )


def redacted(exchange: Exchange, redact: Redactor) -> Exchange:
    """The exchange with every secret replaced in what a report could show of it. The body
    is rewritten only when there are secrets to take out: the rules parse it."""
    body = exchange.body
    if redact:
        # binary: a report shows at most an excerpt of replacement characters
        with contextlib.suppress(UnicodeDecodeError):
            body = redact(body.decode("utf-8")).encode("utf-8")
    return replace(
        exchange,
        url=redact(exchange.url),
        request_excerpt=redact(exchange.request_excerpt),
        reason=redact(exchange.reason),
        headers={k: redact(v) for k, v in exchange.headers.items()},
        body=body,
        error=redact(exchange.error) if exchange.error is not None else None,
    )


def _maybe(exchange: Exchange | None, redact: Redactor) -> Exchange | None:
    return None if exchange is None else redacted(exchange, redact)
