"""PROF002: one preprocessing or decoding stage takes most of the call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Location, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule, ms
from infermedic.profile.results import Stage, StageBatch

_JUDGED_ROLES = {"preprocessing", "postprocessing", "decode"}


class StageDominatesCall(ProfileRule):
    """## What it does
    Checks whether a preprocessing or postprocessing stage of a model call (a scikit-learn
    Pipeline step, a function a plain Python model calls before or after its estimator, or the
    decoding of a JSON request body) takes most of the time of the call.

    ## Why is this bad?
    Time spent before the model is usually the cheapest to remove: a transformer doing
    per-row Python work, a DataFrame conversion or a slow JSON decode can cost more than the
    model itself, and every request pays it. Speeding up the model does not help then.

    ## How it's measured
    Each Pipeline step's `transform` (and the final estimator's method) is timed on its own
    input, at batch 1 and at the largest batch (`--max-batch`, or the input's rows, even
    when the sweep stopped earlier), adaptively until the median is stable or a time cap;
    a JSON request body's `json.loads` and its conversion to rows are timed the same way.
    A `MODULE:ATTR` callable or custom object has no named steps: py-spy samples the worker
    for about a second while it repeats the call, each function the model's entry point calls
    becomes a stage with its share of the samples (times the call's timed median), and a stage
    is preprocessing or postprocessing only when it is the user's own code and the call also
    reaches a model library (scikit-learn, XGBoost, LightGBM, ONNX Runtime, torch...).
    Fires when a non-model stage's median is at least `stage-share` (default 0.5) of the
    whole call and at least `stage-min-ms` (default 1 ms).

    ## Known problems
    Stages are timed in isolation; cache effects between steps are not included. Steps of a
    nested Pipeline or ColumnTransformer are reported as one stage. Sampled stages carry
    sampling error (a stage's share from n samples is good to about 1/sqrt(n)); a plain Python
    model that calls no recognised library is not judged, since its own code may be the model.
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
    phases: ClassVar[tuple[str, ...]] = ("stages",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        stages = observations.results.stages
        if stages is None:
            return
        limits = observations.thresholds
        worst: dict[str, tuple[float, Stage, StageBatch]] = {}
        for entry in stages.batches:
            total = entry.total_s
            for stage in entry.stages:
                if stage.role not in _JUDGED_ROLES or total <= 0:
                    continue
                median = stage.timing.median_s
                share = median / total
                if share >= limits.stage_share and median * 1e3 >= limits.stage_min_ms:
                    previous = worst.get(stage.name)
                    if previous is None or share > previous[0]:
                        worst[stage.name] = (share, stage, entry)
        for name, (share, stage, entry) in worst.items():
            timing = stage.timing
            message = (
                f"stage {name!r} takes {share:.0%} of the call at batch {entry.batch} "
                f"({ms(timing.median_s)} of {ms(entry.total_s)})"
            )
            evidence = observations.evidence(
                f"per-stage timing at batch {entry.batch}",
                stage=name,
                role=stage.role,
                batch=entry.batch,
                stage_median_s=timing.median_s,
                stage_iqr_s=timing.iqr_s,
                stage_calls=timing.calls,
                call_total_s=entry.total_s,
                share=share,
                measured_by=stage.how or "timed",
                **({"samples": stage.samples} if stage.samples is not None else {}),
                **({"top_frame": stage.top_frames[0].frame} if stage.top_frames else {}),
            )
            yield self.finding(
                _location(observations.location, stage.called_at),
                message,
                evidence=[evidence],
                fingerprint_key=name,
            )


def _location(model: Location, called_at: str | None) -> Location:
    """The line that calls a sampled stage, when sampling saw it; else the model artifact."""
    if called_at:
        path, _, line = called_at.rpartition(":")
        if path and line.isdigit():
            return Location(path=path, line=int(line))
    return model
