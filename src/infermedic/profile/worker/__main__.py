"""The worker process: loads the model, runs the measurements, streams JSON lines back.

Run as `python -m infermedic.profile.worker` with the job as JSON on stdin. Every line it
writes to its protocol stream is one event: `progress`, `result` (a phase's data),
`notification`, `failure`, `done`. The model's own prints go to stderr, so they can never
corrupt the protocol. A crash, a hang or running out of memory ends only this process.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import IO, Any

import numpy as np

from infermedic.profile.detect import ModelFormat
from infermedic.profile.protocol import (
    Done,
    PhaseResult,
    PhaseStarted,
    Progress,
    WorkerEvent,
    WorkerFailure,
    WorkerNote,
    encode,
)


class Emitter:
    """Writes the protocol's events (`protocol.py`) to the parent, one line each."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def send(self, event: WorkerEvent) -> None:
        self.stream.write(encode(event) + "\n")
        self.stream.flush()

    def result(self, phase: str, data: Any) -> None:
        self.send(PhaseResult(phase=phase, data=data))

    def progress(self, phase: str, fraction: float) -> None:
        self.send(Progress(phase=phase, fraction=round(fraction, 3)))

    def note(self, level: str, message: str) -> None:
        self.send(WorkerNote(level=level, message=message))


def main() -> int:
    job = json.loads(sys.stdin.read())
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # anything the model prints to stdout goes to stderr instead
    sys.stdout = sys.stderr
    emitter = Emitter(protocol)
    # The memory limit is the parent's watchdog on this process tree (see supervise.py).
    warnings.simplefilter("ignore")  # the model's warnings are not ours to raise
    phase = "start"
    try:
        for phase in run_job(job, emitter):
            emitter.send(PhaseStarted(name=phase))
    except MemoryError:
        emitter.send(
            WorkerFailure(
                phase=phase,
                kind="memory",
                error_type="MemoryError",
                message="the model ran out of memory",
            )
        )
    except _Failure as failure:
        emitter.send(
            WorkerFailure(
                phase=failure.phase,
                kind=failure.kind,
                error_type=failure.error_type,
                message=str(failure),
                hint=failure.hint,
            )
        )
    emitter.send(Done())
    return 0


class _Failure(Exception):
    def __init__(
        self, phase: str, kind: str, message: str, *, error_type: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.phase = phase
        self.kind = kind
        self.error_type = error_type
        self.hint = hint


def run_job(job: dict[str, Any], out: Emitter) -> Any:
    """Each phase in turn; yields the phase name so a failure can say where it happened."""
    from infermedic.profile.worker import phases
    from infermedic.profile.worker.inputs import InputFailure, load_sample, synthesise
    from infermedic.profile.worker.loaded import LoadFailure
    from infermedic.profile.worker.loaders import load_model
    from infermedic.profile.worker.thread_sweep import thread_sweep
    from infermedic.profile.worker.timing import time_once

    started = time.monotonic()
    plan = job["plan"]
    budget = phases.Budget(
        deadline=started + float(job["deadline_s"]),
        cell_min_s=float(plan["cell_min_s"]),
        cell_max_s=float(plan["cell_max_s"]),
    )
    cores = int(job["cores"])
    fmt = ModelFormat(job["format"])

    yield "load"
    rss_before = phases.rss_bytes()
    load_start = time.perf_counter()
    try:
        model = load_model(
            fmt, path=job["path"], ref=job["ref"], method=plan["method"], sys_path=job["sys_path"]
        )
    except LoadFailure as exc:
        raise _Failure("load", exc.kind, str(exc), hint=exc.hint) from exc
    except MemoryError:
        raise
    except Exception as exc:  # loading runs arbitrary code; any error is the model's
        raise _Failure(
            "load", "error", f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__
        ) from exc
    load_s = time.perf_counter() - load_start
    rss_after = phases.rss_bytes()
    # The first load includes importing the model's libraries; a second one (when cheap
    # enough) isolates the artifact's own deserialisation, which a warm process pays.
    warm_load_s = None
    if load_s < max(0.5, budget.remaining() / 2):
        warm_start = time.perf_counter()
        load_model(
            fmt, path=job["path"], ref=job["ref"], method=plan["method"], sys_path=job["sys_path"]
        )
        warm_load_s = time.perf_counter() - warm_start
    from threadpoolctl import threadpool_info

    out.result(
        "load",
        {
            "load_s": load_s,
            "warm_load_s": warm_load_s,
            "rss_before_bytes": rss_before,
            "rss_after_bytes": rss_after,
            "kind": model.kind,
            "method": model.method,
            "type": type(model.obj).__module__ + "." + type(model.obj).__qualname__,
            "is_classifier": model.is_classifier,
            "n_features": model.n_features,
            "feature_names": list(model.feature_names) if model.feature_names else None,
            "saved_with": model.saved_with,
            "loaded_with": model.loaded_with,
            "version_warnings": model.version_warnings,
            "load_warnings": model.load_warnings[:10],
            "threadpools": [
                {k: p.get(k) for k in ("user_api", "internal_api", "num_threads")}
                for p in threadpool_info()
            ],
        },
    )
    out.progress("load", 1.0)

    yield "input"
    try:
        if job.get("input"):
            sample = load_sample(model, Path(job["input"]))
        else:
            sample = synthesise(model, int(plan["max_batch"]))
    except InputFailure as exc:
        raise _Failure("input", "input", str(exc), hint=exc.hint) from exc
    except MemoryError:
        raise
    except Exception as exc:  # a hostile file can make the readers raise anything
        raise _Failure(
            "input", "input", f"cannot read the input: {type(exc).__name__}: {exc}"
        ) from exc
    out.result(
        "input",
        {
            "source": sample.source,
            "description": sample.description,
            "rows": sample.rows,
            "nan_count": sample.nan_count,
            "nan_columns": sample.nan_columns,
        },
    )

    yield "first-call"
    one = sample.take(1)
    wide = min(sample.rows, 8)
    outputs: list[Any] = []
    try:
        first_s = time_once(lambda: outputs.append(model.call(one)))
        second_s = time_once(lambda: model.call(one))
        output = model.call(sample.take(wide))
    except MemoryError:
        raise
    except Exception as exc:
        raise _Failure(
            "first-call",
            "call",
            f"{model.method} raised {type(exc).__name__}: {exc}",
            error_type=type(exc).__name__,
        ) from exc
    from infermedic.profile.worker.outputs import check_output

    checks = [
        check_output(
            value,
            rows,
            method=model.method,
            kind=model.kind,
            classifier=model.is_classifier,
        )
        for value, rows in ((outputs[0], 1), (output, wide))
    ]
    invalid = list(dict.fromkeys(p for c in checks for p in c.invalid))
    value_problems = list(dict.fromkeys(p for c in checks for p in c.value_problems))
    shown = checks[-1]
    nan_out = False
    if shown.dtype is not None and shown.dtype.startswith("float"):
        from infermedic.profile.worker.outputs import output_array

        nan_out = bool(np.isnan(output_array(output)).any())
    out.result(
        "first-call",
        {
            "first_s": first_s,
            "second_s": second_s,
            "output_shape": list(shown.shape) if shown.shape is not None else None,
            "output_dtype": shown.dtype,
            "output_has_nan": nan_out,
            "output_invalid": invalid,
            "output_value_problems": value_problems,
            "output_rows": {"1": checks[0].rows, str(wide): checks[1].rows},
            "output_warnings": list(dict.fromkeys(w for c in checks for w in c.warnings)),
        },
    )

    def progress_of(name: str) -> Any:
        return lambda fraction: out.progress(name, fraction)

    yield "batch-sweep"
    latency_budget = plan.get("latency_budget_ms")
    # The phases up to GC share part of the time left; the thread sweep and the measured
    # options keep the rest, so a short budget (--quick) on a slow host still judges them.
    try_options = bool(plan.get("try_options", True))
    # A plain Python model's main measurement is its sampled stages, and it has few options.
    many_options = try_options and model.kind not in {"callable", "object"}
    early = budget.share(_EARLY_SHARE_WITH_OPTIONS if many_options else _EARLY_SHARE)
    sweep = phases.batch_sweep(
        model,
        sample,
        early,
        max_batch=int(plan["max_batch"]),
        latency_budget_s=latency_budget / 1e3 if latency_budget else None,
        flat_gain=float(job["thresholds"]["batch_flat_gain"]),
        progress=progress_of("batch-sweep"),
    )
    out.result("batch-sweep", sweep)
    recommended = int(sweep["recommended_batch"])
    largest = int(sweep["cells"][-1]["batch"])
    wide = recommended if recommended > 1 else largest
    batches = sorted({1, wide})

    guarded = [
        (
            "stages",
            lambda: phases.stage_times(
                model, sample, early, sorted({1, min(int(plan["max_batch"]), sample.rows)})
            ),
        ),
        ("determinism", lambda: phases.determinism(model, sample, batch=wide)),
        (
            "memory",
            lambda: phases.memory_growth(
                model,
                sample,
                batch=min(64, sample.rows),
                calls=int(plan["memory_calls"]),
                time_cap_s=min(float(plan["memory_time_cap_s"]), max(0.2, early.remaining() / 4)),
            ),
        ),
        (
            "gc",
            lambda: phases.gc_pauses(
                model,
                sample,
                batch=wide,
                time_s=min(float(plan["gc_window_s"]), max(0.05, early.remaining() / 4)),
            ),
        ),
        (
            "threads",
            lambda: thread_sweep(
                model,
                sample,
                budget.share(_THREADS_SHARE_WITH_OPTIONS if try_options else 1.0),
                cores=cores,
                batches=batches,
                onnx_path=job["path"] if model.kind == "onnx" else None,
            ),
        ),
    ]
    if model.kind == "torch":
        guarded.append(
            ("autograd", lambda: phases.autograd(model, sample, budget, batches=batches))
        )
    for name, run in guarded:
        yield name
        if budget.remaining() <= 0:
            out.note("warning", _spent(name, plan))
            continue
        _guarded(out, name, run)
        out.progress(name, 1.0)

    if try_options:
        yield "options"
        if budget.remaining() <= 0:
            out.note("warning", _spent("options", plan))
        else:
            _guarded(
                out, "options", lambda: _measure_options(model, sample, budget, batches, job, out)
            )

    device = _accelerator(str(plan.get("device", "auto")), model, out)
    if device is not None:
        yield "gpu"
        if budget.remaining() <= 0:
            out.note("warning", _spent("gpu", plan))
            return
        from infermedic.profile.worker import gpu

        _guarded(
            out,
            "gpu",
            lambda: gpu.device_phase(
                model,
                sample,
                batches=batches,
                deadline=budget.deadline,
                device=device,
                try_compile=bool(plan.get("try_compile", True)),
            ),
        )
        out.progress("gpu", 1.0)


# Shares of the time left after the first call: the early phases (batch sweep, stages,
# determinism, memory, GC) get 45% of it when options are measured (75% without, or for a
# plain Python model), and the thread sweep half of what then remains; the options the rest.
_EARLY_SHARE_WITH_OPTIONS = 0.45
_EARLY_SHARE = 0.75
_THREADS_SHARE_WITH_OPTIONS = 0.5


def _spent(phase: str, plan: dict[str, Any]) -> str:
    """Why `phase` did not run, and the option that would let it."""
    given = float(plan.get("budget_s") or 0)
    more = f"; rerun with --budget {2 * given:g}" if given else ""
    return f"{phase}: skipped, the time budget (--budget {given:g} s) was spent{more}"


def _accelerator(requested: str, model: Any, out: Emitter) -> str | None:
    """The device to measure a torch model on, or None; why not, when it was asked for."""
    if requested == "cpu":
        return None
    from infermedic.profile.worker.gpu import cuda_available

    if model.kind != "torch":
        if requested != "auto":
            out.note("warning", f"--device {requested}: device measurements need a torch model")
        return None
    if not cuda_available():
        if requested != "auto":
            out.note("warning", f"--device {requested}: torch sees no CUDA device here")
        return None
    return "cuda" if requested == "auto" else requested


def _measure_options(
    model: Any, sample: Any, budget: Any, batches: list[int], job: dict[str, Any], out: Emitter
) -> dict[str, Any]:
    from infermedic.profile.worker import alternatives

    with alternatives.scratch_dir() as scratch:
        workdir = Path(scratch)
        results: list[dict[str, Any]] = []
        base = alternatives.baseline_medians(model, sample, budget, batches)
        results.append(alternatives.float32_option(model, sample, budget, batches, base))
        out.progress("options", 0.3)
        onnx_path: str | None = job["path"] if model.kind == "onnx" else None
        if model.kind != "onnx":
            option, onnx_path = alternatives.onnx_option(
                model, sample, budget, batches, base, workdir
            )
            results.append(option)
        out.progress("options", 0.6)
        onnx_base = (
            alternatives.onnx_baseline(model, sample, budget, batches, onnx_path)
            if onnx_path
            else None
        )
        results.append(
            alternatives.quantised_option(
                model, sample, budget, batches, onnx_path, onnx_base, workdir
            )
        )
        results.extend(alternatives.torch_options(model, sample, budget, batches, base))
        out.progress("options", 1.0)
        return {"batches": batches, "baseline": base, "options": results}


def _guarded(out: Emitter, name: str, run: Any) -> None:
    """One phase; an error in it is a notification and the next phase still runs."""
    try:
        out.result(name, run())
    except MemoryError:
        raise
    except Exception as exc:  # the model's code may raise anything in a later phase
        last = traceback.extract_tb(exc.__traceback__)[-1]
        out.note(
            "error",
            f"{name}: the measurement failed with {type(exc).__name__}: {exc} "
            f"(at {Path(last.filename).name}:{last.lineno})",
        )


if __name__ == "__main__":
    sys.exit(main())
