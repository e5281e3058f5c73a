"""PROF006: another runtime (ONNX Runtime, torch.compile) runs the model faster, same outputs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule, as_json, ms
from infermedic.profile.rules._options import parity_ok

_RUNTIMES = ("onnxruntime", "torch.compile")


class FasterRuntimeAvailable(ProfileRule):
    """## What it does
    Checks whether the model converted to ONNX (skl2onnx for scikit-learn, onnxmltools for
    XGBoost and LightGBM boosters, `torch.onnx.export` for torch) and run by ONNX Runtime (or,
    for a torch model on a GPU, compiled with `torch.compile`) is faster than the model as
    loaded, with the same outputs.

    ## Why is this bad?
    For small scikit-learn models most of a call is Python overhead and input validation;
    ONNX Runtime skips both. Serving the slower runtime costs replicas and latency for no
    difference in predictions.

    ## How it's measured
    The model is converted (float32 input, no ZipMap), loaded in ONNX Runtime
    with one intra-op thread, and timed at batch 1 and the recommended batch like the model.
    Parity on the larger batch: the maximum absolute difference of the outputs and, for
    classifiers, the share of rows with the same label. Fires when the speed-up is at least
    `option-min-speedup` (default 1.5) and the parity is within `parity-max-abs-diff`
    (default 1e-4) and `parity-min-label-agreement` (default 0.999). A conversion that fails
    is a notification with its reason. On a GPU, `torch.compile` is timed the same way at the
    widest batch after its first (compiling) call, when at least 45 s of the budget is left.
    """

    code: ClassVar[str] = "PROF006"
    name: ClassVar[str] = "faster-runtime-available"
    severity: ClassVar[Severity] = Severity.LOW
    summary: ClassVar[str] = "ONNX Runtime runs the model faster with matching outputs."
    fix: ClassVar[str] = (
        "Export the model with skl2onnx at training time, check parity on held-out data, and "
        "serve it with onnxruntime.InferenceSession."
    )
    risk: ClassVar[str] = "Each prediction costs more CPU and latency than it needs to."
    phases: ClassVar[tuple[str, ...]] = ("options", "gpu")

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        limits = observations.thresholds
        for option in observations.results.measured_options():
            runtime = option.name
            if not runtime.startswith(_RUNTIMES) or option.status != "measured":
                continue
            parity = option.parity
            if parity is None or not parity_ok(parity, limits.parity_max_abs_diff, limits):
                continue
            cell = option.best_cell()
            if cell is None or (cell.speedup or 0.0) < limits.option_min_speedup:
                continue
            agreement = parity.label_agreement
            agree_text = f", labels agree on {agreement:.1%}" if agreement is not None else ""
            message = (
                f"{runtime} is {cell.speedup or 0.0:.1f}x faster at batch {cell.batch} "
                f"({ms(cell.timing.median_s)} vs {ms(cell.baseline_median_s)}); "
                f"max abs diff {parity.max_abs_diff or 0.0:.1g}{agree_text}"
            )
            evidence = observations.evidence(
                f"converted the model ({runtime}) and timed it on the same batches",
                batch=cell.batch,
                speedup=cell.speedup,
                median_s=cell.timing.median_s,
                baseline_median_s=cell.baseline_median_s,
                calls=cell.timing.calls,
                parity=as_json(parity),
                cells=[as_json(c) for c in option.cells],
            )
            yield self.finding(
                observations.location, message, evidence=[evidence], fingerprint_key=runtime
            )
