"""PROF007: float32 inputs, INT8 quantisation or half precision run faster with parity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule, as_json, ms
from infermedic.profile.rules._options import parity_ok


class LowerPrecisionAvailable(ProfileRule):
    """## What it does
    Checks whether float32 inputs (instead of float64), dynamic INT8 quantisation (of the ONNX
    model with ONNX Runtime, or of an eager torch module's Linear layers with
    `torch.ao.quantization.quantize_dynamic`) or, on a GPU, fp16/bf16 autocast make calls
    faster while the outputs stay within a parity limit.

    ## Why is this bad?
    Tree ensembles convert inputs to float32 internally, so float64 inputs pay a copy on
    every call; matrix-heavy ONNX models run faster with INT8 weights. Serving the slower
    form wastes CPU when the predictions do not change.

    ## How it's measured
    Each option is timed at batch 1 and the recommended batch (the float32 cast is inside
    the timed call), and its outputs compared with the model's on the larger batch: maximum
    absolute difference and, for classifiers, label agreement. Fires when the speed-up is at
    least `precision-min-speedup` (default 1.2) and the difference is within
    `parity-max-abs-diff` (1e-4) for float32 or `quantised-max-abs-diff` (0.02) for INT8 and
    autocast, with labels agreeing on at least `parity-min-label-agreement` (0.999) of rows.

    ## Known problems
    Parity is measured on the profiled sample only; check it on held-out data before
    serving a quantised model.
    """

    code: ClassVar[str] = "PROF007"
    name: ClassVar[str] = "lower-precision-available"
    severity: ClassVar[Severity] = Severity.LOW
    summary: ClassVar[str] = "Lower precision (float32 or INT8) is faster with measured parity."
    fix: ClassVar[str] = (
        "Cast inputs to float32 where the request is decoded, or serve the INT8-quantised ONNX "
        "model after checking its parity on held-out data."
    )
    risk: ClassVar[str] = "Each call spends time on conversions or precision it does not need."
    phases: ClassVar[tuple[str, ...]] = ("options", "gpu")

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        limits = observations.thresholds
        for option in observations.results.measured_options():
            name = option.name
            # Half precision rounds like quantisation does: judged with the same tolerance.
            quantised = name.startswith(("dynamic INT8", "autocast"))
            if not (quantised or name.startswith("float32")) or option.status != "measured":
                continue
            tolerance = limits.quantised_max_abs_diff if quantised else limits.parity_max_abs_diff
            parity = option.parity
            if parity is None or not parity_ok(parity, tolerance, limits):
                continue
            cell = option.best_cell()
            if cell is None or (cell.speedup or 0.0) < limits.precision_min_speedup:
                continue
            message = (
                f"{name} is {cell.speedup or 0.0:.1f}x faster at batch {cell.batch} "
                f"({ms(cell.timing.median_s)} vs {ms(cell.baseline_median_s)}); "
                f"max abs diff {parity.max_abs_diff or 0.0:.1g}"
            )
            evidence = observations.evidence(
                f"timed {name} on the same batches and compared outputs",
                option=name,
                batch=cell.batch,
                speedup=cell.speedup,
                median_s=cell.timing.median_s,
                baseline_median_s=cell.baseline_median_s,
                calls=cell.timing.calls,
                parity=as_json(parity),
            )
            yield self.finding(
                observations.location, message, evidence=[evidence], fingerprint_key=name
            )
