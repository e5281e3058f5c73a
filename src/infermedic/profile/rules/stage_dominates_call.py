"""PROF002: one preprocessing or decoding stage takes most of the call."""

from __future__ import annotations

from typing import Any, ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileContext, ProfileRule, ms


class StageDominatesCall(ProfileRule):
    """## What it does
    Checks whether a preprocessing step of a scikit-learn Pipeline, or the decoding of a JSON
    request body, takes most of the time of a model call.

    ## Why is this bad?
    Time spent before the model is usually the cheapest to remove: a transformer doing
    per-row Python work, a DataFrame conversion or a slow JSON decode can cost more than the
    model itself, and every request pays it. Speeding up the model does not help then.

    ## How it's measured
    Each Pipeline step's `transform` (and the final estimator's method) is timed on its own
    input, at batch 1 and at the largest batch (`--max-batch`, or the input's rows, even
    when the sweep stopped earlier), adaptively until the median is stable or a time cap;
    a JSON request body's `json.loads` and its conversion to rows are timed the same way.
    Fires when a non-model stage's median is at least `stage-share` (default 0.5) of the
    whole call and at least `stage-min-ms` (default 1 ms).

    ## Known problems
    Stages are timed in isolation; cache effects between steps are not included. Steps of a
    nested Pipeline or ColumnTransformer are reported as one stage.
    """

    code: ClassVar[str] = "PROF002"
    name: ClassVar[str] = "stage-dominates-call"
    severity: ClassVar[Severity] = Severity.MEDIUM
    summary: ClassVar[str] = "A preprocessing or decoding stage takes most of the model call."
    fix: ClassVar[str] = (
        "Vectorise the named stage (numpy over whole columns instead of per-row Python), move "
        "it out of the request path, or precompute it; then profile again."
    )
    risk: ClassVar[str] = "Every request pays for work that is not the model."

    def check(self, context: ProfileContext) -> list[Finding]:
        stages = context.phase("stages")
        if stages is None:
            return []
        limits = context.thresholds
        worst: dict[str, tuple[float, dict[str, Any], dict[str, Any]]] = {}
        for entry in stages["batches"]:
            total = entry["total_s"]
            for stage in entry["stages"]:
                if stage["role"] == "model" or total <= 0:
                    continue
                median = stage["timing"]["median_s"]
                share = median / total
                if share >= limits.stage_share and median * 1e3 >= limits.stage_min_ms:
                    previous = worst.get(stage["name"])
                    if previous is None or share > previous[0]:
                        worst[stage["name"]] = (share, stage, entry)
        findings = []
        for name, (share, stage, entry) in worst.items():
            timing = stage["timing"]
            message = (
                f"stage {name!r} takes {share:.0%} of the call at batch {entry['batch']} "
                f"({ms(timing['median_s'])} of {ms(entry['total_s'])})"
            )
            evidence = context.evidence(
                f"per-stage timing at batch {entry['batch']}",
                stage=name,
                role=stage["role"],
                batch=entry["batch"],
                stage_median_s=timing["median_s"],
                stage_iqr_s=timing["iqr_s"],
                stage_calls=timing["calls"],
                call_total_s=entry["total_s"],
                share=share,
            )
            findings.append(
                self.finding(context.location, message, evidence=[evidence], fingerprint_key=name)
            )
        return findings
