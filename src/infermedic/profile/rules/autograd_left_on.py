"""PROF010: a torch model runs with autograd or training mode on at inference."""

from __future__ import annotations

from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileContext, ProfileRule, ms


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

    def check(self, context: ProfileContext) -> list[Finding]:
        result = context.phase("autograd")
        if result is None:
            return []
        speedup = result.get("inference_mode_speedup") or 1.0
        training = bool(result.get("training"))
        if not training and speedup < context.thresholds.precision_min_speedup:
            return []
        parts = []
        if training:
            parts.append("the module is in training mode")
        if speedup >= context.thresholds.precision_min_speedup:
            parts.append(
                f"{result.get('context', 'torch.inference_mode()')} is {speedup:.1f}x faster "
                f"({ms(result.get('inference_median_s'))} vs "
                f"{ms(result.get('as_loaded_median_s'))})"
            )
        evidence = context.evidence(
            "timed the call as loaded and with autograd off", **dict(result)
        )
        return [self.finding(context.location, "; ".join(parts), evidence=[evidence])]
