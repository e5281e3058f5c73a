"""LIVE011: the known-good request fails under load that the service accepts."""

from __future__ import annotations

from infermedic.model import Finding, Notification, Severity
from infermedic.probe.loadgen import is_error
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules.base import MeasuredRule, measurement


class ErrorsUnderLoad(MeasuredRule):
    """Errors under load.

    ## What it does
    Checks the share of failed requests (4xx, 5xx, timeouts, connection errors, bodies over
    `--max-body`, and 3xx redirects, which probe never follows) while the known-good
    request — which succeeded alone — is sent under load: the open-loop run, the concurrency
    sweep and the blocking check.

    ## Why is this bad?
    A request that works alone and fails under concurrency points at resource exhaustion,
    a race on shared state, a connection pool or queue limit, or a dependency that times
    out. Users see intermittent failures that never reproduce on a laptop.

    ## How it's measured
    - Statistic: failed / sent requests per load phase, and the failures by status.
    - Window: each load phase.
    - Minimum samples: `min-samples` (20) requests in the phase.
    - Default threshold: ≥ `error-fraction` (1 %) failed, and at least 2 failures.
    """

    code = "LIVE011"
    name = "errors-under-load"
    severity = Severity.HIGH
    summary = "Requests that succeed alone fail under load."
    risk = "Intermittent failures for users; retries amplify the overload."
    fix = (
        "Look at the failing statuses: 503/429 → add capacity or shed load explicitly; "
        "5xx → a race or exhausted resource in the handler; timeouts → bound the queue."
    )

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        contract = obs.contract
        limits = obs.thresholds
        if contract is not None and contract.prediction is not None and not contract.prediction.ok:
            return []  # the request fails alone: LIVE010 says so
        phases: list[tuple[str, int, int, dict[int, int]]] = []
        if obs.load is not None:
            statuses = dict(obs.load.statuses)
            phases.append(
                (
                    f"open loop at {obs.load.rate:g} req/s for {obs.load.duration_s:g} s",
                    obs.load.requests,
                    obs.load.errors,
                    statuses,
                )
            )
        phases.extend(
            (f"closed loop at concurrency {step.concurrency}", step.requests, step.errors, {})
            for step in obs.sweep
        )
        if obs.blocking is not None:
            step = obs.blocking.concurrent
            phases.append(
                (f"closed loop at concurrency {step.concurrency}", step.requests, step.errors, {})
            )
        failing = [
            p
            for p in phases
            if p[1] >= limits.min_samples and p[2] >= 2 and p[2] / p[1] >= limits.error_fraction
        ]
        if not failing:
            return []
        worst = max(failing, key=lambda p: p[2] / p[1])
        message = (
            f"{worst[2]} of {worst[1]} requests ({worst[2] / worst[1]:.1%}) failed in the "
            f"{worst[0]}, though the same request succeeded alone"
        )
        evidence = [
            measurement(
                f"POST {obs.base_url}{obs.predict_path}, {name}",
                f"{errors} of {sent} failed"
                + (
                    ": "
                    + ", ".join(
                        f"{s or 'no response'}×{n}" for s, n in sorted(st.items()) if is_error(s)
                    )
                    if st
                    else ""
                ),
                requests=sent,
                errors=errors,
                statuses={str(k): v for k, v in st.items()},
            )
            for name, sent, errors, st in failing
        ]
        return [self.finding(obs.predict_location(), message, evidence=evidence)]
