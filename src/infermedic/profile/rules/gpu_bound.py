"""PROF011: a torch model on a GPU waits on copies or kernel launches, or leaves the GPU idle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule, as_json, ms


class GpuTransferOrLaunchBound(ProfileRule):
    """## What it does
    Checks whether a torch model measured on a GPU spends its calls copying data between host
    and device, or launching kernels faster than the GPU finishes them (so the GPU sits idle).

    ## Why is this bad?
    A GPU only pays off while it computes. When the host-to-device copy of the batch and the
    copy of the result back take most of a call, a faster GPU or model changes nothing; when
    the device is busy for a small share of the call's wall time, the Python and launch
    overhead of many small kernels is the bottleneck, and the GPU is paid for but idle.

    ## How it's measured
    With CUDA present (or `--device cuda`), each call at batch 1 and the recommended batch is
    split with CUDA events into host-to-device copy, compute and device-to-host copy (medians
    over repeated calls after warm-up). The device's busy share is the kernels' time in a
    `torch.profiler` trace of ten calls over their wall time; NVML utilisation is reported
    beside it where `pynvml` is installed. Fires when copies take at least
    `gpu-transfer-share` (default 0.5) of a call and at least `gpu-transfer-min-ms` (default
    0.1 ms), or when the device is busy for less than `gpu-min-busy-share` (default 0.3) of
    the wall time at the widest batch measured.

    ## Known problems
    Not yet run on a GPU by this project's tests (the CI machines have none): the device
    phase is exercised on the CPU, and this rule on recorded measurements. Copies from
    pageable memory are measured as a service usually makes them; pinned memory would be
    faster and is part of the fix. One CUDA stream; overlapping copies with compute on
    several streams is not measured.
    """

    code: ClassVar[str] = "PROF011"
    name: ClassVar[str] = "gpu-transfer-or-launch-bound"
    severity: ClassVar[Severity] = Severity.MEDIUM
    summary: ClassVar[str] = "The GPU waits on host-device copies or kernel launches."
    fix: ClassVar[str] = (
        "Transfer-bound: keep inputs on the device, send compact dtypes (uint8/fp16), use pinned "
        "memory with non_blocking copies, return only what the client needs. Launch-bound or "
        "idle: batch requests (dynamic batching), fuse kernels with torch.compile or CUDA "
        "graphs (`mode='reduce-overhead'`), or serve the model on the CPU."
    )
    risk: ClassVar[str] = "GPU time is paid for while the device waits; latency does not improve."
    phases: ClassVar[tuple[str, ...]] = ("gpu",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        result = observations.results.gpu
        if result is None:
            return
        limits = observations.thresholds
        problems: list[str] = []
        values: dict[str, Any] = {"device": result.device_name or result.device}
        transfer_cells = [
            cell
            for cell in result.cells
            if cell.transfer_share is not None
            and cell.transfer_share >= limits.gpu_transfer_share
            and (cell.h2d_s + cell.d2h_s) * 1e3 >= limits.gpu_transfer_min_ms
        ]
        if transfer_cells:
            cell = max(transfer_cells, key=lambda c: c.transfer_share or 0.0)
            problems.append(
                f"copies take {cell.transfer_share or 0.0:.0%} of a call at batch {cell.batch} "
                f"(host to device {ms(cell.h2d_s)}, back {ms(cell.d2h_s)}, compute "
                f"{ms(cell.compute_s)})"
            )
            values["transfer_cell"] = as_json(cell)
        busy = result.busy
        if busy is not None and busy.share is not None and busy.share < limits.gpu_min_busy_share:
            problems.append(
                f"the GPU runs kernels for {busy.share:.0%} of the call's wall time "
                f"({ms(busy.kernel_s_per_call)} of {ms(busy.wall_s_per_call)})"
            )
            values["busy"] = as_json(busy)
        if not problems:
            return
        nvml = result.nvml
        if nvml is not None and nvml.available:
            values["nvml_gpu_util_median"] = nvml.gpu_util_median
        evidence = observations.evidence(
            "split device calls with CUDA events and traced kernels with torch.profiler",
            **values,
        )
        yield self.finding(observations.location, "; ".join(problems), evidence=[evidence])
