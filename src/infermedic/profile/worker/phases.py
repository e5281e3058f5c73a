"""The measurements taken inside the worker: first call, batch and thread sweeps, stages,
memory growth, GC pauses and determinism. Each returns JSON-ready data."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from infermedic.profile.worker.inputs import Sample, frame_from_request, prepare_input
from infermedic.profile.worker.loaded import LoadedModel
from infermedic.profile.worker.outputs import check_output, output_array, parity
from infermedic.profile.worker.timing import Timing, measure
from infermedic.profile.worker.torch_ops import is_torch_module, operator_stages


@dataclass(kw_only=True)
class Budget:
    """The worker's time plan: a deadline and the per-cell time limits."""

    deadline: float  # time.monotonic() value
    cell_min_s: float
    cell_max_s: float

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def share(self, fraction: float) -> Budget:
        """A budget that ends when `fraction` of the time now remaining has passed, so a
        greedy early phase (the batch sweep) leaves the later ones (threads, options) theirs."""
        return Budget(
            deadline=time.monotonic() + max(0.0, self.remaining()) * fraction,
            cell_min_s=self.cell_min_s,
            cell_max_s=self.cell_max_s,
        )

    def cell(self, call: Callable[[], object]) -> Timing:
        # Shrink cells as the deadline nears, so every phase still gets a measurement.
        cap = max(0.005, min(self.cell_max_s, self.remaining() / 20))
        return measure(call, min_time_s=min(self.cell_min_s, cap), max_time_s=cap)


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    import resource

    return pages * resource.getpagesize()


def batch_sizes(max_batch: int) -> list[int]:
    sizes = [1]
    while sizes[-1] * 2 <= max_batch:
        sizes.append(sizes[-1] * 2)
    if sizes[-1] != max_batch:
        sizes.append(max_batch)
    return sizes


def traced_peak(call: Callable[[], object]) -> int:
    """Bytes of Python/numpy allocation at the peak of one call (tracemalloc)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        call()
        return max(0, tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


def _keep(outputs: list[Any], call: Callable[[Any], Any], batch: Any) -> None:
    outputs.append(call(batch))


def batch_sweep(
    model: LoadedModel,
    sample: Sample,
    budget: Budget,
    *,
    max_batch: int,
    latency_budget_s: float | None,
    flat_gain: float,
    progress: Callable[[float], None],
) -> dict[str, Any]:
    limit = max(1, min(max_batch, sample.rows))
    sizes = batch_sizes(limit)
    cells: list[dict[str, Any]] = []
    stopped = "reached the largest batch"
    for index, size in enumerate(sizes):
        batch = sample.take(size)
        timing = budget.cell(partial(model.call, batch))
        outputs: list[Any] = []
        cell = {
            "batch": size,
            "timing": timing.to_dict(),
            "rows_per_s": size / timing.median_s if timing.median_s > 0 else None,
            "peak_alloc_bytes": traced_peak(partial(_keep, outputs, model.call, batch)),
        }
        # rows/s only means something when the call answers every row it was given
        checked = check_output(
            outputs[0],
            size,
            method=model.method,
            kind=model.kind,
            classifier=model.is_classifier,
            values=False,
        )
        cell["output_rows"] = checked.rows
        cell["output_invalid"] = list(checked.invalid)
        cells.append(cell)
        progress((index + 1) / len(sizes))
        if latency_budget_s is not None and timing.median_s > latency_budget_s:
            stopped = f"latency {timing.median_s * 1e3:.3g} ms exceeded the budget"
            break
        if len(cells) >= 3:
            t = [c["rows_per_s"] or 0.0 for c in cells[-3:]]
            if t[0] > 0 and t[1] > 0 and t[2] / t[1] < flat_gain and t[1] / t[0] < flat_gain:
                stopped = "throughput flattened"
                break
        if budget.remaining() <= 0:
            stopped = "time budget"
            break
    within = [
        c for c in cells if latency_budget_s is None or c["timing"]["median_s"] <= latency_budget_s
    ] or cells[:1]
    best = max(c["rows_per_s"] or 0.0 for c in within)
    recommended = next(c for c in within if (c["rows_per_s"] or 0.0) >= 0.9 * best)
    return {
        "cells": cells,
        "stopped": stopped,
        "recommended_batch": recommended["batch"],
        "latency_budget_s": latency_budget_s,
    }


def pipeline_steps(model: LoadedModel) -> list[tuple[str, Any]] | None:
    steps = getattr(model.obj, "steps", None)
    if model.kind != "sklearn" or not isinstance(steps, list) or len(steps) < 2:
        return None
    return [(str(name), step) for name, step in steps]


def stage_times(
    model: LoadedModel, sample: Sample, budget: Budget, batches: list[int]
) -> dict[str, Any]:
    """Time each Pipeline step by name (and the request decode, for a JSON body)."""
    steps = pipeline_steps(model)
    by_batch: list[dict[str, Any]] = []
    notes: list[str] = []
    for size in batches:
        batch = sample.take(size)
        stages: list[dict[str, Any]] = []
        if sample.request_body is not None and size == 1:
            body = sample.request_body
            decode = budget.cell(partial(json.loads, body))
            document = json.loads(body)
            convert = budget.cell(partial(_decode_rows, model, document))
            stages.append({"name": "json-decode", "role": "decode", "timing": decode.to_dict()})
            stages.append(
                {"name": "request-to-rows", "role": "decode", "timing": convert.to_dict()}
            )
            batch = prepare_input(model, frame_from_request(document))
        if steps is not None:
            current = batch
            for index, (name, step) in enumerate(steps):
                final = index == len(steps) - 1
                if final:
                    method = getattr(step, model.method)
                    timing = budget.cell(partial(method, current))
                    role = "model"
                else:
                    timing = budget.cell(partial(step.transform, current))
                    current = step.transform(current)
                    role = "preprocessing"
                stages.append({"name": name, "role": role, "timing": timing.to_dict()})
        whole = budget.cell(partial(model.call, batch))
        if steps is None:
            stages.extend(
                _unnamed_stages(model, batch, budget, whole, notes, size=size, largest=max(batches))
            )
        total = whole.median_s + sum(
            s["timing"]["median_s"] for s in stages if s["role"] == "decode"
        )
        by_batch.append(
            {
                "batch": size,
                "call": whole.to_dict(),
                "total_s": total,
                "stages": stages,
            }
        )
    return {"batches": by_batch, "pipeline": steps is not None, "notes": notes}


# Sampling needs about a second per batch size plus py-spy's start; below this much budget
# left, the whole call stays one timed stage.
_SAMPLING_MIN_BUDGET_S = 6.0


def _unnamed_stages(
    model: LoadedModel,
    batch: Any,
    budget: Budget,
    whole: Timing,
    notes: list[str],
    *,
    size: int,
    largest: int,
) -> list[dict[str, Any]]:
    """Stages of a model without Pipeline steps: sampled for plain Python models, the one
    timed call otherwise (a single estimator, an ONNX session, a booster)."""
    timed = [{"name": model.method, "role": "model", "timing": whole.to_dict(), "how": "timed"}]
    if is_torch_module(model):
        return operator_stages(model, batch, budget, whole=whole) or timed
    if model.kind not in {"callable", "object"}:
        return timed
    # Each batch size costs about two seconds of sampling: with a short budget left, only
    # the widest batch (the stages a batching service runs) is sampled.
    widest = size >= largest
    if budget.remaining() < _SAMPLING_MIN_BUDGET_S * (1 if widest else 3):
        note = f"batch {size} not sampled, too little of the time budget was left"
        notes.append(note)
        return timed
    from infermedic.profile.worker.sampling import sample_call

    sampled = sample_call(partial(model.call, batch), seconds=1.0)
    if sampled["status"] != "sampled":
        if not notes or sampled["reason"] not in notes[-1]:
            notes.append(f"not sampled ({sampled['reason']})")
        return timed
    stages = []
    for stage in sampled["stages"]:
        timing = dict.fromkeys(whole.to_dict())
        timing["median_s"] = stage["share"] * whole.median_s
        stages.append({**stage, "timing": timing, "how": f"sampled ({stage['samples']} samples)"})
    return stages


def _decode_rows(model: LoadedModel, document: Any) -> Any:
    return prepare_input(model, frame_from_request(document))


def warm_up(call: Callable[[Any], Any], sample: Sample, batches: list[int]) -> None:
    """A few untimed calls per batch: TorchScript's profiling executor re-specialises and
    recompiles (tens of ms) when the shape, thread count or grad mode changes, and a short
    timing cell would otherwise time that compilation instead of the call."""
    for size in batches:
        batch = sample.take(size)
        for _ in range(3):
            call(batch)


def memory_growth(
    model: LoadedModel, sample: Sample, *, batch: int, calls: int, time_cap_s: float
) -> dict[str, Any]:
    """Python heap (tracemalloc) and RSS across repeated identical calls, after a warm-up."""
    data = sample.take(batch)
    warm_start = time.monotonic()
    warm_calls = 0
    # A slow model (or a busy host) stops the warm-up early: the cap holds for the phase.
    while warm_calls < 10 and (warm_calls < 2 or time.monotonic() - warm_start < time_cap_s / 4):
        model.call(data)
        warm_calls += 1
    per_call_s = (time.monotonic() - warm_start) / warm_calls
    gc.collect()
    rss_start = rss_bytes()
    tracemalloc.start()
    try:
        gc.collect()
        readings = [tracemalloc.get_traced_memory()[0]]
        # Four readings at least, each interval sized to fit the cap at the measured call time
        # (tracemalloc slows calls, hence the margin), and never more than `calls` in all.
        fits = int(time_cap_s / 8 / max(per_call_s, 1e-6))
        quarter = max(1, min(calls // 4, fits))
        done = 0
        started = time.monotonic()
        while done < calls:
            for _ in range(quarter):
                model.call(data)
            done += quarter
            gc.collect()
            readings.append(tracemalloc.get_traced_memory()[0])
            if time.monotonic() - started > time_cap_s and len(readings) >= 3:
                break
    finally:
        tracemalloc.stop()
    rss_end = rss_bytes()
    growth = readings[-1] - readings[0]
    steps = [b - a for a, b in zip(readings, readings[1:], strict=False)]
    return {
        "batch": batch,
        "calls": done,
        "traced_bytes": readings,
        "growth_bytes": growth,
        "growth_per_call_bytes": growth / done if done else 0.0,
        "grew_every_interval": all(s > 0 for s in steps),
        "rss_start_bytes": rss_start,
        "rss_end_bytes": rss_end,
    }


@contextmanager
def gc_watch() -> Iterator[dict[str, Any]]:
    """Collections per generation and their pause time, from `gc.callbacks`."""
    stats: dict[str, Any] = {"collections": [0, 0, 0], "pause_s": 0.0, "max_pause_s": 0.0}
    started: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter_ns())
        elif started:
            pause = (time.perf_counter_ns() - started.pop()) / 1e9
            stats["collections"][info.get("generation", 0)] += 1
            stats["pause_s"] += pause
            stats["max_pause_s"] = max(stats["max_pause_s"], pause)

    gc.callbacks.append(callback)
    try:
        yield stats
    finally:
        gc.callbacks.remove(callback)


def gc_pauses(model: LoadedModel, sample: Sample, *, batch: int, time_s: float) -> dict[str, Any]:
    data = sample.take(batch)
    calls = 0
    begin = time.perf_counter()
    with gc_watch() as stats:
        while time.perf_counter() - begin < time_s or calls < 5:
            model.call(data)
            calls += 1
    elapsed = time.perf_counter() - begin
    return {
        "batch": batch,
        "calls": calls,
        "elapsed_s": elapsed,
        "collections": stats["collections"],
        "pause_s": stats["pause_s"],
        "max_pause_s": stats["max_pause_s"],
        "pause_share": stats["pause_s"] / elapsed if elapsed > 0 else 0.0,
    }


def determinism(model: LoadedModel, sample: Sample, *, batch: int) -> dict[str, Any]:
    data = sample.take(batch)
    first = model.call(data)
    repeats = [model.call(data) for _ in range(2)]
    comparisons = [parity(first, r, classifier=model.is_classifier) for r in repeats]
    worst = max(
        (c.get("max_abs_diff", 0.0) for c in comparisons if c.get("comparable")), default=0.0
    )
    agreement = min((c.get("label_agreement", 1.0) for c in comparisons), default=1.0)
    ref = output_array(first)
    return {
        "batch": batch,
        "calls": 3,
        "max_abs_diff": worst,
        "label_agreement": agreement,
        "output_shape": list(ref.shape),
        "output_has_nan": bool(np.issubdtype(ref.dtype, np.floating) and np.isnan(ref).any()),
    }


def autograd(
    model: LoadedModel, sample: Sample, budget: Budget, *, batches: list[int]
) -> dict[str, Any]:
    """A torch call as loaded versus inside `torch.inference_mode()`, with their parity.

    Timed as-loaded, inference, inference, as-loaded; each keeps its faster cell, so a drift
    in the machine's background load favours neither.
    """
    import torch

    # TorchScript's executor keeps tensors from an inference-mode call and then fails a later
    # call with autograd on ("Inference tensors cannot be saved for backward"), so a scripted
    # module is measured under `torch.no_grad()`, which records no graph either.
    scripted = isinstance(model.obj, torch.jit.ScriptModule)
    context = "torch.no_grad()" if scripted else "torch.inference_mode()"

    def inference_call(batch: Any) -> Any:
        with torch.no_grad() if scripted else torch.inference_mode():
            return model.call(batch)

    parameters = list(model.obj.parameters())
    cells: list[dict[str, Any]] = []
    warm_up(model.call, sample, batches)
    warm_up(inference_call, sample, batches)
    warm_up(model.call, sample, batches)
    for size in batches:
        batch = sample.take(size)
        order = (model.call, inference_call, inference_call, model.call)
        timings = [budget.cell(partial(call, batch)) for call in order]
        as_loaded = min(timings[0], timings[3], key=lambda t: t.median_s)
        inference = min(timings[1], timings[2], key=lambda t: t.median_s)
        cells.append(
            {
                "batch": size,
                "as_loaded": as_loaded.to_dict(),
                "inference_mode": inference.to_dict(),
                "speedup": as_loaded.median_s / inference.median_s
                if inference.median_s > 0
                else None,
            }
        )
    largest = sample.take(max(batches))
    comparison = parity(model.call(largest), inference_call(largest), classifier=False)
    # The widest batch is what a batching service runs; the finding quotes that cell.
    widest = cells[-1]
    return {
        "training": model.training,
        "context": context,
        "grad_enabled": torch.is_grad_enabled(),
        "parameters_require_grad": any(p.requires_grad for p in parameters),
        "batches": batches,
        "cells": cells,
        "batch": widest["batch"],
        "as_loaded_median_s": widest["as_loaded"]["median_s"],
        "inference_median_s": widest["inference_mode"]["median_s"],
        "inference_mode_speedup": widest["speedup"],
        "parity": comparison,
    }
