"""What the checks measured, handed to the LIVE rules to judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from infermedic.model import Finding, Location, Notification
from infermedic.probe.http import Exchange, Redactor
from infermedic.probe.loadgen import LoadRecorder, StepResult
from infermedic.probe.metrics import StageTime
from infermedic.probe.plan import ProbePlan, Thresholds
from infermedic.probe.protocols import ServiceMap


@dataclass
class ContractResult:
    liveness: Exchange | None = None
    readiness: Exchange | None = None
    metrics: Exchange | None = None
    metrics_error: str | None = None
    prediction: Exchange | None = None
    versions: list[tuple[str, str]] = field(default_factory=list)  # (source, version)
    unauthenticated: Exchange | None = None
    version_requests: list[Exchange] = field(default_factory=list)


@dataclass
class MemorySample:
    at_s: float
    rss_bytes: float
    source: str  # "psutil pid 1234" | "/metrics process_resident_memory_bytes"


@dataclass
class LoadResult:
    recorder: LoadRecorder
    rate: float
    duration_s: float
    workers: int
    trustworthy: bool
    stages: list[StageTime] = field(default_factory=list)
    metrics_requests: float | None = None  # Δ request count the server's metrics saw


@dataclass
class BlockingResult:
    health_path: str
    idle: LoadRecorder
    loaded: LoadRecorder
    single: StepResult
    concurrent: StepResult


@dataclass
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
    raw: bytes | None = None  # a malformed case's exact bytes
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


@dataclass
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


@dataclass
class ProbeContext:
    """Every measurement of one probe run."""

    base_url: str
    plan: ProbePlan
    redact: Redactor
    service: ServiceMap
    contract: ContractResult | None = None
    load: LoadResult | None = None
    sweep: list[StepResult] = field(default_factory=list)
    blocking: BlockingResult | None = None
    robustness: list[RobustnessCase] = field(default_factory=list)
    repeats: list[Exchange] = field(default_factory=list)
    memory: list[MemorySample] = field(default_factory=list)
    body_memory: list[BodyMemoryPhase] = field(default_factory=list)
    # seconds (on the memory clock) when requests other than the identical known-good body
    # began; memory samples after it are not the load run's
    identical_load_end_s: float | None = None
    notifications: list[Notification] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    findings_so_far: list[Finding] = field(default_factory=list)  # rules run in catalogue order
    # the injected transport (tests), so a check can open a fresh connection on it
    transport: httpx.AsyncBaseTransport | None = None

    @property
    def thresholds(self) -> Thresholds:
        return self.plan.thresholds

    def location(self, path: str | None, method: str = "POST") -> Location:
        if path is None:
            return Location(url=self.base_url)
        return Location(url=self.base_url + path, endpoint=f"{method} {path}")

    def predict_location(self) -> Location:
        return self.location(self.service.predict_path)
