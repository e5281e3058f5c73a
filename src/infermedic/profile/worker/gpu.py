"""A torch model on an accelerator: where a call's time goes, its memory, and what would help.

Runs in the worker after every CPU phase (it moves the module to the device and back). Per
batch size, one call is split into host-to-device copy, compute and device-to-host copy, each
timed with CUDA events on the stream (host timers would only see the kernel launches), plus
the host-side wall time of the whole call. Then: the share of the wall time the device was
busy in kernels (torch.profiler's device activity), peak device memory per batch size, the
largest batch that fits (doubling until `torch.cuda.OutOfMemoryError`, which is caught and
the cache emptied), fp16/bf16 autocast and `torch.compile` as measured options with parity,
and NVML utilisation while calls repeat (where `pynvml` is installed).

The same code runs on `device="cpu"` (host timers, no copies to split, no OOM search, bf16
autocast only), which is how the tests exercise it on machines without a GPU.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from infermedic.profile.worker.inputs import Sample
from infermedic.profile.worker.loaded import LoadedModel
from infermedic.profile.worker.outputs import parity
from infermedic.profile.worker.torch_ops import as_tensor, weights_dtype

_MAX_REPS = 50
_OOM_SEARCH_MAX_ROWS = 1 << 22
_OOM_SEARCH_MAX_CALL_S = 2.0
# torch.compile takes tens of seconds on its first call and cannot be interrupted; it is
# tried only with at least this much of the budget left.
_COMPILE_MIN_BUDGET_S = 45.0


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class _Clock:
    """Elapsed device time between two points of a call: CUDA events, or host time on a CPU."""

    def __init__(self, device: Any) -> None:
        import torch

        self.torch: Any = torch
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def marks(self, count: int) -> list[Any]:
        if self.cuda:
            return [self.torch.cuda.Event(enable_timing=True) for _ in range(count)]
        return [0.0] * count

    def record(self, marks: list[Any], index: int) -> None:
        if self.cuda:
            marks[index].record()
        else:
            marks[index] = time.perf_counter()

    def seconds(self, marks: list[Any], start: int, end: int) -> float:
        if self.cuda:
            return float(marks[start].elapsed_time(marks[end])) / 1e3
        return float(marks[end] - marks[start])


def device_phase(
    model: LoadedModel,
    sample: Sample,
    *,
    batches: list[int],
    deadline: float,
    device: str = "cuda",
    try_compile: bool = True,
) -> dict[str, Any]:
    """Measure `model` (a torch module) on `device`; the module is moved back to the CPU."""
    import torch

    target = torch.device(device)
    module = model.obj
    dtype = weights_dtype(module)
    clock = _Clock(target)
    notes: list[str] = []
    result: dict[str, Any] = {
        "device": str(target),
        "device_name": torch.cuda.get_device_name(target) if clock.cuda else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "notes": notes,
    }
    module.to(target)
    try:
        cells = []
        for size in batches:
            host = as_tensor(sample.take(size), dtype)
            cells.append(_split_call(module, host, target, clock, deadline))
        result["cells"] = cells
        widest = as_tensor(sample.take(max(batches)), dtype)
        result["busy"] = _busy_share(module, widest, target, clock)
        result["memory"] = _largest_batch(module, sample, dtype, target, batches, deadline)
        result["options"] = _options(
            model, module, widest, target, clock, deadline, try_compile=try_compile, notes=notes
        )
        result["nvml"] = _nvml_utilisation(module, widest, target, clock) if clock.cuda else None
    finally:
        module.to("cpu")
        if clock.cuda:
            torch.cuda.empty_cache()
    return result


def _to_host(output: Any, *, as_float: bool = False) -> Any:
    """A module's output (a tensor, or tuples/lists/dicts of them) copied to host memory."""
    import torch
    from torch.utils._pytree import tree_map

    def move(value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        return (value.float() if as_float and value.is_floating_point() else value).to("cpu")

    return tree_map(move, output)


def _is_oom(exc: BaseException) -> bool:
    text = str(exc)
    return "out of memory" in text or "ALLOC_FAILED" in text


@contextmanager
def _inference() -> Iterator[None]:
    import torch

    # no_grad rather than inference_mode: TorchScript's executor rejects inference tensors
    # in later calls; both record no graph.
    with torch.no_grad():
        yield


def _reps(deadline: float, one_call_s: float) -> int:
    left = max(0.0, deadline - time.monotonic())
    return max(3, min(_MAX_REPS, int(min(0.3, left / 20) / max(one_call_s, 1e-6))))


def _split_call(
    module: Any, host: Any, device: Any, clock: _Clock, deadline: float
) -> dict[str, Any]:
    """Host-to-device, compute and device-to-host of one call, each a median over repeats."""
    with _inference():
        for _ in range(2):  # warm-up: allocator, kernel selection, lazy initialisation
            _to_host(module(host.to(device)))
        clock.sync()
        start = time.perf_counter()
        _to_host(module(host.to(device)))
        clock.sync()
        reps = _reps(deadline, time.perf_counter() - start)
        if clock.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(device)
        h2d, compute, d2h, wall = [], [], [], []
        for _ in range(reps):
            marks = clock.marks(4)
            began = time.perf_counter()
            clock.record(marks, 0)
            on_device = host.to(device, non_blocking=False)
            clock.record(marks, 1)
            output = module(on_device)
            clock.record(marks, 2)
            _to_host(output)
            clock.record(marks, 3)
            clock.sync()
            wall.append(time.perf_counter() - began)
            h2d.append(clock.seconds(marks, 0, 1))
            compute.append(clock.seconds(marks, 1, 2))
            d2h.append(clock.seconds(marks, 2, 3))
    medians = {
        name: float(np.median(v))
        for name, v in (("h2d_s", h2d), ("compute_s", compute), ("d2h_s", d2h), ("wall_s", wall))
    }
    device_total = medians["h2d_s"] + medians["compute_s"] + medians["d2h_s"]
    transfer = medians["h2d_s"] + medians["d2h_s"]
    peak = None
    if clock.cuda:
        import torch

        peak = int(torch.cuda.max_memory_allocated(device))
    return {
        "batch": int(host.shape[0]),
        **medians,
        "reps": reps,
        "transfer_share": transfer / device_total if device_total > 0 else None,
        "rows_per_s": host.shape[0] / medians["wall_s"] if medians["wall_s"] > 0 else None,
        "peak_bytes": peak,
    }


def _busy_share(module: Any, host: Any, device: Any, clock: _Clock) -> dict[str, Any]:
    """The share of the wall time the device ran kernels, from torch.profiler's trace."""
    if not clock.cuda:
        return {"share": None, "reason": "measured on an accelerator only"}
    import torch
    from torch.profiler import ProfilerActivity, profile

    calls = 10
    with _inference():
        _to_host(module(host.to(device)))
        clock.sync()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as trace:
            began = time.perf_counter()
            for _ in range(calls):
                _to_host(module(host.to(device)))
            torch.cuda.synchronize()
            wall = time.perf_counter() - began
    # Kernels are attributed to the op that launched them as its self device time, so the
    # sum over ops counts each kernel once (`self_cuda_time_total` before torch 2.4).
    kernel_us = 0.0
    for entry in trace.key_averages():
        kernel_us += float(
            getattr(entry, "self_device_time_total", None)
            or getattr(entry, "self_cuda_time_total", 0.0)
            or 0.0
        )
    share = (kernel_us / 1e6) / wall if wall > 0 else None
    return {
        "share": min(1.0, share) if share is not None else None,
        "kernel_s_per_call": kernel_us / 1e6 / calls,
        "wall_s_per_call": wall / calls,
    }


def _largest_batch(
    module: Any, sample: Sample, dtype: Any, device: Any, batches: list[int], deadline: float
) -> dict[str, Any]:
    """Double the batch until the device runs out of memory, within the time budget."""
    if device.type != "cuda":
        return {"searched": False, "reason": "searched on an accelerator only"}
    import torch

    base = as_tensor(sample.take(sample.rows), dtype)
    size = max(batches)
    largest_ok = size
    first_oom: int | None = None
    stopped = "row cap"
    while size * 2 <= _OOM_SEARCH_MAX_ROWS:
        size *= 2
        if deadline - time.monotonic() < 5:
            stopped = "time budget"
            break
        rows = base.repeat((size + len(base) - 1) // len(base), *([1] * (base.dim() - 1)))[:size]
        try:
            torch.cuda.reset_peak_memory_stats(device)
            started = time.perf_counter()
            with _inference():
                _to_host(module(rows.to(device)))
            torch.cuda.synchronize()
            elapsed = time.perf_counter() - started
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            # cuBLAS and cuDNN report a failed allocation as a RuntimeError of their own.
            if not isinstance(exc, torch.cuda.OutOfMemoryError) and not _is_oom(exc):
                raise
            first_oom = size
            stopped = "out of memory"
            break
        finally:
            del rows
            torch.cuda.empty_cache()
        largest_ok = size
        if elapsed > _OOM_SEARCH_MAX_CALL_S:
            stopped = "call time"
            break
    free, total = torch.cuda.mem_get_info(device)
    return {
        "searched": True,
        "largest_ok": largest_ok,
        "first_oom": first_oom,
        "stopped_by": stopped,
        "device_total_bytes": int(total),
        "device_free_bytes": int(free),
    }


def _options(
    model: LoadedModel,
    module: Any,
    host: Any,
    device: Any,
    clock: _Clock,
    deadline: float,
    *,
    try_compile: bool,
    notes: list[str],
) -> list[dict[str, Any]]:
    import torch

    with _inference():
        reference = _to_host(module(host.to(device)))
    baseline = _timed(lambda: _to_host(module(host.to(device))), clock, deadline)
    options = []
    kinds = [torch.float16, torch.bfloat16] if clock.cuda else [torch.bfloat16]
    for kind in kinds:
        name = f"autocast {str(kind).removeprefix('torch.')}"
        if clock.cuda and kind is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            options.append(
                {"name": name, "status": "not-applicable", "reason": "the device has no bf16"}
            )
            continue

        def autocast_call(kind: Any = kind) -> Any:
            with torch.autocast(device_type=device.type, dtype=kind):
                return _to_host(module(host.to(device)), as_float=True)

        options.append(
            _option(name, autocast_call, reference, baseline, model, clock, deadline, host)
        )
    if not try_compile:
        options.append(
            {
                "name": "torch.compile",
                "status": "not-applicable",
                "reason": "not tried (--quick or disabled)",
            }
        )
    elif isinstance(module, torch.jit.ScriptModule):
        options.append(
            {
                "name": "torch.compile",
                "status": "not-applicable",
                "reason": "a TorchScript module cannot be compiled; export it with torch.export",
            }
        )
    elif deadline - time.monotonic() < _COMPILE_MIN_BUDGET_S:
        options.append(
            {
                "name": "torch.compile",
                "status": "not-applicable",
                "reason": (
                    f"needs {_COMPILE_MIN_BUDGET_S:.0f} s of the time budget left (raise --budget)"
                ),
            }
        )
    else:
        try:
            compiled: Any = torch.compile(module)
            started = time.perf_counter()
            with _inference():
                compiled(host.to(device))
            clock.sync()
            compile_s = time.perf_counter() - started
        except Exception as exc:  # inductor raises many kinds of errors for unsupported graphs
            options.append(
                {
                    "name": "torch.compile",
                    "status": "failed",
                    "reason": f"{type(exc).__name__}: {str(exc)[:200]}",
                }
            )
        else:
            option = _option(
                "torch.compile",
                lambda: _to_host(compiled(host.to(device))),
                reference,
                baseline,
                model,
                clock,
                deadline,
                host,
            )
            option["compile_s"] = compile_s
            options.append(option)
    return options


def _timed(call: Callable[[], Any], clock: _Clock, deadline: float) -> float:
    with _inference():
        call()
        clock.sync()
        started = time.perf_counter()
        call()
        clock.sync()
        reps = _reps(deadline, time.perf_counter() - started)
        times = []
        for _ in range(reps):
            began = time.perf_counter()
            call()
            clock.sync()
            times.append(time.perf_counter() - began)
    return float(np.median(times))


def _option(
    name: str,
    call: Callable[[], Any],
    reference: Any,
    baseline_s: float,
    model: LoadedModel,
    clock: _Clock,
    deadline: float,
    host: Any,
) -> dict[str, Any]:
    try:
        with _inference():
            candidate = call()
        median = _timed(call, clock, deadline)
    except Exception as exc:  # an op without a half-precision kernel, say
        return {
            "name": name,
            "status": "failed",
            "reason": f"{type(exc).__name__}: {str(exc)[:200]}",
        }
    return {
        "name": name,
        "status": "measured",
        "parity": parity(reference, candidate, classifier=model.is_classifier),
        "cells": [
            {
                "batch": int(host.shape[0]),
                "timing": {"median_s": median, "calls": None},
                "baseline_median_s": baseline_s,
                "speedup": baseline_s / median if median > 0 else None,
            }
        ],
    }


def _nvml_utilisation(module: Any, host: Any, device: Any, clock: _Clock) -> dict[str, Any]:
    """GPU and memory-controller utilisation sampled by NVML while calls repeat for 0.5 s."""
    try:
        import pynvml
    except ImportError:
        return {"available": False, "reason": "pynvml is not installed (pip install nvidia-ml-py)"}
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
    except pynvml.NVMLError as exc:
        return {"available": False, "reason": f"NVML: {exc}"}
    samples: list[tuple[int, int]] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
            samples.append((int(rates.gpu), int(rates.memory)))
            stop.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    end = time.monotonic() + 0.5
    with _inference():
        while time.monotonic() < end:
            _to_host(module(host.to(device)))
    clock.sync()
    stop.set()
    poller.join()
    pynvml.nvmlShutdown()
    if not samples:
        return {"available": False, "reason": "NVML returned no samples"}
    return {
        "available": True,
        "gpu_util_median": float(np.median([s[0] for s in samples])),
        "memory_util_median": float(np.median([s[1] for s in samples])),
        "samples": len(samples),
    }
