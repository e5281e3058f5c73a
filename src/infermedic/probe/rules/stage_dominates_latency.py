"""LIVE012: one server-side stage takes most of each request's time."""

from __future__ import annotations

from dataclasses import dataclass

from infermedic.model import Finding, Notification, Severity
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules.base import MeasuredRule, measurement

TOTAL_NAMES = frozenset({"total", "app", "e2e", "request", "server", "replica"})
# The model's own stage taking most of the time is what a model service should look like.
MODEL_STAGES = frozenset(
    {"infer", "inference", "predict", "prediction", "model", "compute", "forward"}
)


@dataclass(frozen=True)
class _Stage:
    name: str
    mean_ms: float
    source: str


class StageDominatesLatency(MeasuredRule):
    """Stage dominates latency.

    ## What it does
    Checks the server-side split of request time — `Server-Timing` / `x-queue-time` /
    `x-inference-time` response headers, and per-stage metrics scraped from `/metrics`
    before and after the load (`inference_stage_duration_seconds`, Triton and TorchServe
    µs counters, KServe and Ray histograms) — for one stage that takes most of the time.

    ## Why is this bad?
    It names where to spend the optimisation effort: a dominant `queue` means too little
    capacity or a concurrency cap; a dominant upstream call means a slow dependency (add a
    timeout, a cache, parallel calls); a dominant `pre`/`post` means Python-side data
    handling, not the model.

    ## How it's measured
    - Statistic: mean ms per request of each stage, against the server's `total` stage or,
      without one, the client-side mean service time.
    - Window: the open-loop load run.
    - Minimum samples: `min-samples` (20) responses with the stage.
    - Default threshold: a stage other than the model's own (`infer`, `predict`, `model`,
      `compute` …) ≥ `stage-fraction` (60 %) of the total and ≥ `stage-min-ms` (20 ms).

    ## Options
    `stage-fraction`, `stage-min-ms` in `[tool.infermedic.probe]`.
    """

    code = "LIVE012"
    name = "stage-dominates-latency"
    severity = Severity.MEDIUM
    summary = "One server-side stage (queue, upstream call, preprocessing …) dominates latency."
    risk = "Tuning the model will not help while another stage takes most of the time."
    fix = (
        "Optimise the named stage: for `queue`, add capacity or lift the concurrency cap; for "
        "an upstream call, add a timeout and a cache or call it concurrently."
    )

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        load = obs.load
        limits = obs.thresholds
        if load is None or load.service.count < limits.min_samples:
            return []
        stages: list[_Stage] = []
        reference = load.service.mean_ms
        reference_source = "client-side mean service time"
        for name, data in load.header_stages.items():
            if data.responses < limits.min_samples:
                continue
            if name.lower() in TOTAL_NAMES:
                reference, reference_source = data.mean_ms, f"Server-Timing `{name}`"
                continue
            stages.append(_Stage(name, data.mean_ms, "Server-Timing / x-*-time headers"))
        if not stages:
            stages.extend(
                _Stage(s.stage, s.mean_ms, s.source)
                for s in load.stages
                if s.requests >= limits.min_samples and s.stage.lower() not in TOTAL_NAMES
            )
        if not stages or reference <= 0:
            return []
        stages = [s for s in stages if s.name.lower() not in MODEL_STAGES]
        if not stages:
            return []
        top = max(stages, key=lambda s: s.mean_ms)
        share = top.mean_ms / reference
        if share < limits.stage_fraction or top.mean_ms < limits.stage_min_ms:
            return []
        message = (
            f"stage `{top.name}` takes {top.mean_ms:.1f} ms of {reference:.1f} ms per request "
            f"({share:.0%}) under {load.rate:g} req/s"
        )
        evidence = measurement(
            f"POST {obs.base_url}{obs.predict_path} open loop at {load.rate:g} req/s; "
            f"stage times from {top.source}",
            ", ".join(f"{s.name} {s.mean_ms:.1f} ms" for s in stages)
            + f"; reference {reference:.1f} ms ({reference_source})",
            stages={s.name: round(s.mean_ms, 3) for s in stages},
            reference_ms=round(reference, 3),
        )
        return [self.finding(obs.predict_location(), message, evidence=[evidence])]
