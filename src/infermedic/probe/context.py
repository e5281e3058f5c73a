"""What the checks measure into while a probe runs; `observations.observe` freezes it for
the LIVE rules and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from infermedic.model import Location, Notification
from infermedic.probe.http import Exchange, Redactor
from infermedic.probe.loadgen import LoadRecorder, StepResult
from infermedic.probe.metrics import StageTime
from infermedic.probe.observations import BodyMemoryPhase, MemorySample, RobustnessCase
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
