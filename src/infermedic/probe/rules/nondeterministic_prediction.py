"""LIVE006: the same input gives different predictions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from infermedic.model import Finding, Notification, Severity
from infermedic.probe.http import Exchange
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules.base import REDACT, MeasuredRule

# Response fields that legitimately change per request.
VOLATILE_KEY = re.compile(
    r"(^id$|_id$|^request|time|latency|duration|elapsed|date|trace|span|uuid)", re.IGNORECASE
)
PREDICTION_KEYS = ("predictions", "prediction", "outputs", "output", "result", "scores")


def comparable(body: Any) -> Any:
    """The part of a response that must repeat: prediction fields, volatile keys removed."""
    if isinstance(body, Mapping):
        for key in PREDICTION_KEYS:
            if key in body:
                return comparable(body[key])
        return {k: comparable(v) for k, v in body.items() if not VOLATILE_KEY.search(str(k))}
    if isinstance(body, list):
        return [comparable(v) for v in body]
    if isinstance(body, float):
        return round(body, 9)  # float formatting noise is not non-determinism
    return body


class NondeterministicPrediction(MeasuredRule):
    """Nondeterministic prediction.

    ## What it does
    Checks whether the known-good request, sent several times in a row, gets the same
    prediction each time (ignoring ids, timestamps and timing fields).

    ## Why is this bad?
    Different answers to the same input mean a model left in training mode (dropout), an
    unseeded sampler, a race on shared state, or replicas serving different models. Results
    cannot be reproduced, cached, audited or explained.

    ## How it's measured
    - Statistic: equality of the prediction part of the JSON responses (floats to 9 decimal
      places; fields named like ids, times and latencies ignored).
    - Window: the known-good request and its repeats (3 requests in all).
    - Minimum samples: 2 successful responses.
    - Default threshold: any difference.
    """

    code = "LIVE006"
    name = "nondeterministic-prediction"
    severity = Severity.MEDIUM
    summary = "The same input gets different predictions."
    risk = "Results cannot be reproduced, cached or audited; replicas may disagree."
    fix = (
        "Call `model.eval()` / run under `torch.inference_mode()`, seed any sampling, and make "
        "sure every replica serves the same artifact."
    )

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        first = obs.contract.prediction if obs.contract else None
        answers: list[Exchange] = [e for e in (first, *obs.repeats) if e is not None and e.ok]
        bodies = [(e, e.json()) for e in answers]
        bodies = [(e, b) for e, b in bodies if b is not None]
        if len(bodies) < 2:
            return []
        forms = {json.dumps(comparable(b), sort_keys=True, default=str) for _, b in bodies}
        if len(forms) == 1:
            return []
        message = f"{len(bodies)} identical requests got {len(forms)} different predictions"
        return [
            self.finding(
                obs.predict_location(),
                message,
                evidence=[e.evidence(REDACT) for e, _ in bodies],
            )
        ]
