"""LIVE010: a contract endpoint (liveness, readiness, metrics, prediction) is missing or broken."""

from __future__ import annotations

from infermedic.model import (
    Evidence,
    EvidenceKind,
    Finding,
    Notification,
    NotificationLevel,
    Severity,
)
from infermedic.probe.checks.contract import sane_prediction_body
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.protocols import LIVENESS_CANDIDATES, READINESS_CANDIDATES
from infermedic.probe.rules.base import REDACT, MeasuredRule


class ContractEndpointMissing(MeasuredRule):
    """Contract endpoint missing.

    ## What it does
    Checks the endpoints an orchestrator and an on-call engineer rely on: a liveness route,
    a separate readiness route, a `/metrics` route that parses as Prometheus text, and a
    prediction route that answers the known-good request with 2xx and a non-empty JSON body.
    Health is judged by status code only (a 400 from Open Inference readiness means "not
    ready", not "missing").

    ## Why is this bad?
    Without liveness the orchestrator cannot restart a hung worker; without a readiness
    route distinct from liveness traffic reaches replicas before the model is loaded;
    without metrics nobody sees latency or errors; a failing known-good prediction means
    the service is down for real users.

    ## How it's measured
    - Statistic: status codes of `GET` on the detected (or `--health-path`) routes, a
      `prometheus_client` parse of `/metrics`, and one known-good `POST <predict>`.
    - Window: detection and the contract check.
    - Minimum samples: one request per endpoint.
    - Default threshold: a 404/no response, a body that does not parse, or a non-2xx
      prediction.
    """

    code = "LIVE010"
    name = "contract-endpoint-missing"
    severity = Severity.MEDIUM
    summary = "A liveness, readiness, metrics or prediction endpoint is missing or broken."
    risk = "Orchestrators and on-call engineers cannot see or manage the service's health."
    fix = (
        "Serve `/livez` (no I/O), `/readyz` (503 until the model is loaded and warm), and "
        "`/metrics` (prometheus_client); `infermedic.instrument` provides all three."
    )
    checklist = ("D-23",)

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        contract = obs.contract
        if contract is None:
            return []
        findings: list[Finding | Notification] = []
        tried = obs.detection

        def looked(paths: tuple[str, ...]) -> list[Evidence]:
            return [tried[p].evidence(REDACT) for p in paths if p in tried][:3]

        if contract.liveness is None:
            findings.append(
                self.finding(
                    obs.location(None),
                    "no liveness endpoint answered (tried "
                    + ", ".join(LIVENESS_CANDIDATES)
                    + "); give --health-path if it has another name",
                    evidence=looked(LIVENESS_CANDIDATES),
                    severity=Severity.MEDIUM,
                )
            )
        elif not contract.liveness.ok:
            path = obs.liveness_path
            findings.append(
                self.finding(
                    obs.location(path, "GET"),
                    f"liveness `GET {path}` answered {contract.liveness.status}",
                    evidence=[contract.liveness.evidence(REDACT)],
                    severity=Severity.HIGH,
                )
            )
        if contract.readiness is None:
            findings.append(
                self.finding(
                    obs.location(None),
                    "no readiness endpoint separate from liveness (tried "
                    + ", ".join(READINESS_CANDIDATES)
                    + ")",
                    evidence=looked(READINESS_CANDIDATES),
                    severity=Severity.LOW,
                )
            )
        elif not contract.readiness.ok:
            findings.append(
                Notification(
                    level=NotificationLevel.WARNING,
                    rule=self.code,
                    message=f"readiness `GET {obs.readiness_path}` answered "
                    f"{contract.readiness.status}: the service says it is not ready",
                )
            )
        if contract.metrics is None:
            findings.append(
                self.finding(
                    obs.location("/metrics", "GET"),
                    "no `/metrics` endpoint",
                    evidence=looked(("/metrics",)),
                    severity=Severity.LOW,
                )
            )
        elif contract.metrics_error is not None:
            findings.append(
                self.finding(
                    obs.location("/metrics", "GET"),
                    f"`/metrics` does not parse as Prometheus text: {contract.metrics_error}",
                    evidence=[
                        contract.metrics.evidence(REDACT),
                        Evidence(
                            kind=EvidenceKind.COMMAND,
                            action="prometheus_client.parser.text_string_to_metric_families(body)",
                            observed=contract.metrics_error,
                        ),
                    ],
                )
            )
        prediction = contract.prediction
        if prediction is not None and prediction.status not in (401, 403):
            sane, why = sane_prediction_body(prediction)
            if not sane:
                findings.append(
                    self.finding(
                        obs.predict_location(),
                        f"the {_origin(obs)} prediction request {why}",
                        evidence=[prediction.evidence(REDACT)],
                        severity=Severity.HIGH,
                    )
                )
        return findings


def _origin(obs: ProbeObservations) -> str:
    """Whose request it was: the user's (`--input`) or one the probe built."""
    if obs.user_input:
        return "known-good (--input)"
    return f"{obs.body_source or 'synthesised'} (give a real one with --input)"
