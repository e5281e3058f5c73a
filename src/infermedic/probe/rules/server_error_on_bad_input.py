"""LIVE005: malformed input makes the service fail with 5xx instead of refusing it with 4xx."""

from __future__ import annotations

from infermedic.model import Finding, Notification, NotificationLevel, Severity
from infermedic.probe.context import ProbeContext
from infermedic.probe.rules.base import MeasuredRule


class ServerErrorOnBadInput(MeasuredRule):
    """Server error on bad input.

    ## What it does
    Checks how the prediction route answers malformed requests derived from the known-good
    one: a missing field, a wrong type, NaN, an out-of-range number, an empty body, a body
    that is not JSON, a wrong content type and an oversized body. Each must get a 4xx; a 5xx
    or a dropped connection means the input reached the model unvalidated.

    ## Why is this bad?
    A client's mistake becomes a server error: it pages the on-call, counts against the
    error budget, may crash a worker, and a NaN that does not crash can return a silent
    garbage prediction.

    ## How it's measured
    - Statistic: the status code of each malformed request (one request per case).
    - Window: the robustness check, after the load run.
    - Minimum samples: one request per case.
    - Default threshold: any 5xx, or no response at all.

    ## Known problems
    FastAPI answers 500 to a NaN even when the model validates its input (the 422 body
    echoes NaN, which `JSONResponse` refuses to serialise). When NaN is the only failing
    case on an OpenAPI (FastAPI) service, it is reported as a warning, not a finding.
    """

    code = "LIVE005"
    name = "server-error-on-bad-input"
    severity = Severity.MEDIUM
    summary = "Malformed input gets a 5xx (or no answer) instead of a 4xx."
    risk = "Client errors become server errors: alerts, error budget, crashed workers."
    fix = (
        "Validate the request with a schema (a pydantic model with types, ranges and "
        "`allow_inf_nan=False`) so bad input gets 422 before it reaches the model."
    )

    def evaluate(self, ctx: ProbeContext) -> list[Finding]:
        failed = [
            case
            for case in ctx.robustness
            if case.exchange.status == 0 or case.exchange.status >= 500
        ]
        if (
            len(failed) == 1
            and failed[0].name.startswith("NaN")
            and "openapi" in ctx.service.names()
        ):
            # FastAPI answers 500 to a NaN input even with validation: the 422 body echoes
            # the input and `JSONResponse` cannot serialise NaN. Said, not counted as a finding.
            ctx.notifications.append(
                Notification(
                    level=NotificationLevel.WARNING,
                    rule=self.code,
                    message=(
                        f"a NaN in the request got {failed[0].exchange.status}: FastAPI cannot "
                        "serialise a validation error that echoes NaN; add a "
                        "RequestValidationError handler that drops `input`, or reject "
                        "non-finite JSON numbers"
                    ),
                )
            )
            return []
        if not failed:
            return []
        names = ", ".join(case.name for case in failed)
        statuses = ", ".join(str(case.exchange.status or "no response") for case in failed)
        message = (
            f"{len(failed)} of {len(ctx.robustness)} malformed requests got a server error "
            f"({statuses}) instead of a 4xx: {names}"
        )
        return [
            self.finding(
                ctx.predict_location(),
                message,
                evidence=[case.exchange.evidence(ctx.redact) for case in failed],
            )
        ]
