"""LIVE005: a request varied from the known-good one makes the service fail with 5xx."""

from __future__ import annotations

from collections.abc import Sequence

from infermedic.model import Evidence, Finding, Notification, NotificationLevel, Severity
from infermedic.probe.observations import ProbeObservations, RobustnessCase
from infermedic.probe.rules.base import REDACT, MeasuredRule, measurement

MAX_EVIDENCE_CASES = 4  # per finding: the first failing requests, each with its re-check


class ServerErrorOnBadInput(MeasuredRule):
    """Server error on bad input.

    ## What it does
    Checks how the prediction route answers requests derived from the known-good one:
    malformed ones (a missing required field, a wrong type, an out-of-range number, an empty
    body, a body that is not JSON, a wrong content type, an oversized body) must get a 4xx;
    production-like ones (an optional field left out, a null, a boundary value such as a
    declared minimum, 0, -1, an empty or long string, an empty list) must get a 2xx when the
    schema allows them and a 4xx otherwise. A 5xx or a dropped connection means the input
    reached code that does not handle it. The finding names the field and the exact body.

    ## Why is this bad?
    A client's mistake, or an ordinary request that tests never sent (a missing optional
    field), becomes a server error: it pages the on-call, counts against the error budget,
    may crash a worker, and shows in production as "some requests return 500".

    ## How it's measured
    - Statistic: the status code of each varied request (one request per case); a 5xx or no
      answer is sent again on a fresh connection and counts only when it fails again.
    - Window: the robustness check, after the load run.
    - Minimum samples: one request per case, at most `max_variants` (24) variations.
    - Default threshold: any reproduced 5xx, or no response at all.

    ## Known problems
    NaN is not a JSON number (RFC 8259). A 5xx to a body holding NaN is the server's JSON
    handling (FastAPI fails to encode a 422 that echoes NaN even when the model validates its
    input), so it is reported as a warning, never as missing validation. Without a schema, a
    variation's expected status is unknown: a 2xx and a 4xx are both accepted.
    """

    code = "LIVE005"
    name = "server-error-on-bad-input"
    severity = Severity.MEDIUM
    summary = "A varied or malformed request gets a 5xx (or no answer) instead of a 2xx/4xx."
    risk = "Client errors become server errors: alerts, error budget, crashed workers."
    fix = (
        "Validate the request with a schema (a pydantic model with types, ranges and "
        "`allow_inf_nan=False`) so bad input gets 422 before it reaches the model, and "
        "handle optional fields being absent or null."
    )

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        cases = obs.robustness
        notes: list[Finding | Notification] = []
        transient = [c for c in cases if c.transient]
        if transient:
            notes.append(
                self.note(
                    f"{len(transient)} server error(s) did not recur on a fresh connection and "
                    "are not counted: "
                    + ", ".join(f"{c.name} ({c.exchange.status})" for c in transient)
                )
            )
        failed = [c for c in cases if c.failed]
        non_json = [c for c in failed if c.non_json]
        if non_json:
            statuses = ", ".join(str(c.exchange.status or "no response") for c in non_json)
            notes.append(
                self.note(
                    f"a body holding NaN (not a JSON number) got {statuses}: the server's JSON "
                    "handling, not missing validation (a framework that cannot encode NaN in its "
                    "response, or in a 422 that echoes the input, answers 500); reject non-finite "
                    "numbers when parsing (`allow_inf_nan=False`), or add a "
                    "RequestValidationError handler that drops `input`",
                    level=NotificationLevel.WARNING,
                )
            )
        counted = [c for c in failed if not c.non_json]
        if not counted:
            return notes
        groups: dict[str, list[RobustnessCase]] = {}
        for case in counted:
            groups.setdefault(case.field or "", []).append(case)
        return [*notes, *(self._finding(obs, f, group) for f, group in groups.items())]

    def _finding(
        self, obs: ProbeObservations, field: str, group: Sequence[RobustnessCase]
    ) -> Finding:
        path = obs.predict_path
        described = "; ".join(_described(c) for c in group)
        where = f"field `{field}`" if field else "the request body"
        message = f"POST {path} fails with a server error on {where}: {described}" + (
            " (reproduced on a fresh connection)" if any(c.recheck for c in group) else ""
        )
        allowed = [c.name for c in group if c.valid]
        if allowed:
            message += "; the schema allows " + ", ".join(allowed)
        evidence: list[Evidence] = []
        for case in group[:MAX_EVIDENCE_CASES]:
            evidence.append(case.exchange.evidence(REDACT))
            if case.recheck is not None:
                evidence.append(case.recheck.evidence(REDACT))
            evidence.append(
                measurement(
                    f"POST {obs.base_url}{path}: {case.name}",
                    f"{case.exchange.status or 'no response'}"
                    + (
                        f", again {case.recheck.status or 'no response'} on a fresh connection"
                        if case.recheck is not None
                        else ""
                    ),
                    case=case.name,
                    kind=case.kind,
                    field=case.field,
                    request_body=case.body,
                    status=case.exchange.status,
                    recheck_status=case.recheck.status if case.recheck is not None else None,
                    schema_allows=case.valid,
                )
            )
        severity = Severity.HIGH if any(c.valid for c in group) else None
        return self.finding(
            obs.predict_location(),
            message,
            evidence=evidence,
            severity=severity,
            fingerprint_key=field or "body",
        )


def _described(case: RobustnessCase) -> str:
    status = case.exchange.status or "no response"
    return f"{case.name} → {status}"
