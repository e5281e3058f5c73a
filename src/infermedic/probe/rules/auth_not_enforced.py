"""LIVE009: the prediction route answers a request that carries no credentials."""

from __future__ import annotations

from infermedic.model import Finding, Notification, NotificationLevel, Severity
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules.base import REDACT, MeasuredRule


class AuthNotEnforced(MeasuredRule):
    """Auth not enforced.

    ## What it does
    When credentials are given (`--api-key`, `--bearer`), sends the known-good prediction
    once without them. The service must refuse it (401/403); answering 2xx means the
    credentials are decorative.

    ## Why is this bad?
    Anyone who can reach the service can use the model: cost, data exfiltration through
    predictions, model extraction, and no per-client accounting.

    ## How it's measured
    - Statistic: the status of one unauthenticated `POST <predict>`.
    - Window: the contract check.
    - Minimum samples: one request; only when credentials were given.
    - Default threshold: any 2xx.
    """

    code = "LIVE009"
    name = "auth-not-enforced"
    severity = Severity.CRITICAL
    summary = "The service answers prediction requests that carry no credentials."
    risk = "Anyone who reaches the service can use, extract or abuse the model."
    fix = (
        "Enforce the credential on every non-health route (a FastAPI dependency on the "
        "router, or the gateway), and test that a request without it gets 401."
    )

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        contract = obs.contract
        if contract is None or contract.unauthenticated is None:
            return []
        notes: list[Finding | Notification] = []
        if contract.prediction is not None and contract.prediction.status in (401, 403):
            notes.append(
                Notification(
                    level=NotificationLevel.WARNING,
                    rule=self.code,
                    message="the service refused the given credentials "
                    f"({contract.prediction.status})",
                )
            )
        bare = contract.unauthenticated
        if not bare.ok:
            return notes
        message = (
            f"a prediction request without credentials got {bare.status}: "
            "authentication is not enforced"
        )
        evidence = [bare.evidence(REDACT)]
        if contract.prediction is not None:  # the same request with credentials, for contrast
            evidence.insert(0, contract.prediction.evidence(REDACT))
        return [*notes, self.finding(obs.predict_location(), message, evidence=evidence)]
