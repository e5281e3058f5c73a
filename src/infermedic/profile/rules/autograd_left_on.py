"""PROF010: a torch model runs with autograd or training mode on at inference."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule, as_json, ms


class AutogradLeftOn(ProfileRule):
    """## What it does
    Checks whether a torch model is called in training mode or with autograd recording,
    and measures what `torch.inference_mode()` saves.

    ## Why is this bad?
    With autograd on, every call records a graph for a backward pass that never comes:
    more memory per request and slower calls. Training mode keeps dropout and batch-norm
    statistics live, so outputs change between calls.

    ## How it's measured
    The loaded module's `training` flag is read; the call is timed at batch 1 and the
    recommended batch as loaded and inside `torch.inference_mode()` (`torch.no_grad()` for
    TorchScript, whose executor rejects inference tensors afterwards), each adaptively until
    stable. Fires when the module is in training mode, or when inference mode is at least
    `precision-min-speedup` (default 1.2) times faster. Needs torch (an optional extra).
    """

    code: ClassVar[str] = "PROF010"
    name: ClassVar[str] = "autograd-left-on"
    severity: ClassVar[Severity] = Severity.MEDIUM
    summary: ClassVar[str] = "The torch model runs with autograd or training mode on."
    fix: ClassVar[str] = (
        "Call `model.eval()` once after loading and wrap calls in `torch.inference_mode()`."
    )
    risk: ClassVar[str] = "Calls are slower and use more memory; dropout makes outputs vary."
    phases: ClassVar[tuple[str, ...]] = ("autograd",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        result = observations.results.autograd
        if result is None:
            return
        speedup = result.inference_mode_speedup or 1.0
        training = bool(result.training)
        limit = observations.thresholds.precision_min_speedup
        if not training and speedup < limit:
            return
        parts = []
        if training:
            parts.append("the module is in training mode")
        if speedup >= limit:
            parts.append(
                f"{result.context} is {speedup:.1f}x faster "
                f"({ms(result.inference_median_s)} vs {ms(result.as_loaded_median_s)})"
            )
        evidence = observations.evidence(
            "timed the call as loaded and with autograd off", **as_json(result)
        )
        yield self.finding(observations.location, "; ".join(parts), evidence=[evidence])
