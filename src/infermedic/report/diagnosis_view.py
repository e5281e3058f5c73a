"""A diagnosis as the views read it: the JSON contract's `measurements["diagnosis"]`, parsed
once into frozen values.

The Markdown, HTML and terminal views of a diagnosis read these attributes, never the dict
tree; `DiagnosisView.of(report)` is the one place that reads it (the JSON boundary). The
values are those `diagnose.model.Diagnosis.summary` writes, so no view shows what the JSON
lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infermedic.model import Finding, Report
from infermedic.report.jsonfmt import finding_from_dict


@dataclass(frozen=True, kw_only=True, slots=True)
class LatencySummary:
    """The load test's latency from the intended send time (ms), throughput and count."""

    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    throughput_rps: float | None
    requests: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "throughput_rps": self.throughput_rps,
            "requests": self.requests,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencySummary:
        return cls(**{name: data.get(name) for name in cls.__slots__})

    def cells(self) -> tuple[float | int | None, ...]:
        """The row of the incident's latency table, in `LATENCY_COLUMNS` order."""
        return (
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.max_ms,
            self.throughput_rps,
            self.requests,
        )


LATENCY_COLUMNS = ("p50 ms", "p95 ms", "p99 ms", "max ms", "throughput req/s", "requests")


@dataclass(frozen=True, kw_only=True, slots=True)
class HypothesisView:
    title: str
    component: str
    status: str
    reason: str
    in_symptom: bool
    noisy_host: bool
    evidence: tuple[Finding, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HypothesisView:
        return cls(
            title=str(data["title"]),
            component=str(data["component"]),
            status=str(data["status"]),
            reason=str(data["reason"]),
            in_symptom=bool(data.get("in_symptom", True)),
            noisy_host=bool(data.get("noisy_host")),
            evidence=tuple(finding_from_dict(f) for f in data["evidence"]),
        )

    @property
    def untested(self) -> bool:
        return self.status in ("not tested", "inconclusive")


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckView:
    kind: str
    status: str
    command: str
    reason: str
    duration_s: float
    findings: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BusyHost:
    """A check during which the host was busy, and how."""

    check: str
    noisy: str


@dataclass(frozen=True, kw_only=True, slots=True)
class FixOfferView:
    code: str
    finding: str
    summary: str
    command: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DiagnosisView:
    """Everything the incident layout shows of a diagnosis."""

    symptom: str | None
    severity: str
    categories: tuple[str, ...]  # their labels
    routing: str
    verdict: str
    busy_hosts: tuple[BusyHost, ...]
    checks: tuple[CheckView, ...]
    hypotheses: tuple[HypothesisView, ...]
    root_cause: HypothesisView | None
    immediate_fixes: tuple[str, ...]
    long_term_fix: str
    fixes: tuple[FixOfferView, ...]
    fixes_note: str
    prevention: tuple[str, ...]
    latency: LatencySummary | None
    model: tuple[tuple[str, str], ...]  # (what, value): the version served, server stages

    @classmethod
    def of(cls, report: Report) -> DiagnosisView | None:
        """The diagnosis a report holds, or None for any other engine's report."""
        data = report.measurements.get("diagnosis")
        return cls.from_dict(data) if isinstance(data, Mapping) else None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DiagnosisView:
        root = d.get("root_cause")
        solution = d["solution"]
        latency = d.get("latency")
        return cls(
            symptom=d["symptom"],
            severity=str(d["severity"]),
            categories=tuple(str(c["label"]) for c in d["categories"]),
            routing=str(d["routing"]),
            verdict=str(d.get("verdict", "")),
            busy_hosts=tuple(
                BusyHost(check=str(h["check"]), noisy=str(h["noisy"]))
                for h in d.get("host", [])
                if h.get("noisy")
            ),
            checks=tuple(
                CheckView(
                    kind=str(c["kind"]),
                    status=str(c["status"]),
                    command=str(c["command"]),
                    reason=str(c["reason"]),
                    duration_s=c["duration_s"],
                    findings=c["findings"],
                )
                for c in d["checks"]
            ),
            hypotheses=tuple(HypothesisView.from_dict(h) for h in d["hypotheses"]),
            root_cause=HypothesisView.from_dict(root) if root else None,
            immediate_fixes=tuple(map(str, solution["immediate"])),
            long_term_fix=str(solution["long_term"] or ""),
            fixes=tuple(FixOfferView(**offer) for offer in d.get("fixes", [])),
            fixes_note=str(d.get("fixes_note") or ""),
            prevention=tuple(map(str, d["prevention"] or ())),
            latency=LatencySummary.from_dict(latency) if isinstance(latency, Mapping) else None,
            model=tuple((str(what), str(value)) for what, value in d.get("model", [])),
        )

    @property
    def untested(self) -> tuple[HypothesisView, ...]:
        """The causes not tested, or tested without a conclusion."""
        return tuple(h for h in self.hypotheses if h.untested)
