"""The thread sweep: the same calls under each thread setting the model's libraries offer
(BLAS/OpenMP pools, `n_jobs`, torch and booster threads), to find oversubscription."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from infermedic.profile.worker.host_load import ForeignCpu
from infermedic.profile.worker.inputs import Sample
from infermedic.profile.worker.loaded import LoadedModel
from infermedic.profile.worker.loaders import load_onnx
from infermedic.profile.worker.phases import Budget, warm_up


def effective_workers(n_jobs: Any, cores: int) -> int:
    if n_jobs is None:
        return 1
    value = int(n_jobs)
    return max(1, cores + 1 + value) if value < 0 else max(1, value)


@dataclass(kw_only=True)
class _ThreadSetting:
    row: dict[str, Any]
    enter: Callable[[], object]
    leave: Callable[[], object]
    call: Callable[[Any], Any]


def thread_sweep(
    model: LoadedModel,
    sample: Sample,
    budget: Budget,
    *,
    cores: int,
    batches: list[int],
    onnx_path: str | None,
) -> dict[str, Any]:
    """Each thread setting alone, the others as loaded: n_jobs, BLAS/OpenMP pools, ORT.

    Settings are timed in two passes, forward then backward, and each keeps its faster
    pass: a machine whose background load drifts during the sweep then biases no setting.
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    settings: list[_ThreadSetting] = []

    def nothing() -> None:
        return None

    if model.kind == "sklearn":
        params = model.obj.get_params(deep=True)
        for key, value in sorted(params.items()):
            if not key.endswith("n_jobs"):
                continue
            seen: set[int] = set()
            for choice in (value, 1, cores, -1):
                workers = effective_workers(choice, cores)
                if workers in seen:
                    continue
                seen.add(workers)
                settings.append(
                    _ThreadSetting(
                        row={
                            "dimension": "n_jobs",
                            "setting": f"{key}={choice}",
                            "value": choice,
                            "workers": workers,
                            "as_loaded": choice == value,
                        },
                        enter=partial(model.obj.set_params, **{key: choice}),
                        leave=partial(model.obj.set_params, **{key: value}),
                        call=model.call,
                    )
                )
    pools = [p for p in threadpool_info() if p.get("user_api") in {"blas", "openmp"}]
    if pools and model.kind != "onnx":
        loaded = max(int(p.get("num_threads", 1)) for p in pools)
        limiter = threadpool_limits(limits=None)
        settings.extend(
            _ThreadSetting(
                row={
                    "dimension": "blas/openmp threads",
                    "setting": f"threadpool_limits({limit})",
                    "value": limit,
                    "workers": limit,
                    "as_loaded": limit == loaded,
                },
                enter=partial(threadpool_limits, limits=limit),
                leave=limiter.restore_original_limits,
                call=model.call,
            )
            for limit in sorted({loaded, 1, cores})
        )
    if onnx_path is not None:
        for threads in sorted({0, 1, cores}):
            session_model = load_onnx(onnx_path, intra_op_threads=threads)
            settings.append(
                _ThreadSetting(
                    row={
                        "dimension": "onnxruntime intra-op threads",
                        "setting": f"intra_op_num_threads={threads}",
                        "value": threads,
                        "workers": threads or cores,
                        "as_loaded": threads == 0,
                    },
                    enter=nothing,
                    leave=nothing,
                    call=session_model.call,
                )
            )
    settings.extend(_booster_thread_settings(model, cores))
    if model.kind == "torch":
        import torch

        torch_loaded = torch.get_num_threads()
        settings.extend(
            _ThreadSetting(
                row={
                    "dimension": "torch intra-op threads",
                    "setting": f"torch.set_num_threads({threads})",
                    "value": threads,
                    "workers": threads,
                    "as_loaded": threads == torch_loaded,
                },
                enter=partial(_torch_threads_warmed, model, sample, batches, threads),
                leave=partial(torch.set_num_threads, torch_loaded),
                call=model.call,
            )
            for threads in sorted({torch_loaded, 1, cores})
        )
    passes: list[dict[int, dict[str, dict[str, Any]]]] = [{}, {}]
    order = list(enumerate(settings))
    others = ForeignCpu(cores)
    stopped = None
    for number, sequence in enumerate((order, order[::-1])):
        for index, setting in sequence:
            # A setting can be slow to enter (n_jobs starts worker processes): past the
            # deadline the sweep stops, and what it measured stays.
            if budget.remaining() <= 0:
                stopped = f"the time budget, in pass {number + 1}"
                break
            setting.enter()
            try:
                passes[number][index] = {
                    str(b): budget.cell(partial(setting.call, sample.take(b))).to_dict()
                    for b in batches
                }
            finally:
                setting.leave()
        if stopped:
            break
    rows = []
    for index, setting in enumerate(settings):
        measured = [p[index] for p in passes if index in p]
        if not measured:
            continue
        timings = {
            key: min((m[key] for m in measured), key=lambda t: t["median_s"]) for key in measured[0]
        }
        rows.append({**setting.row, "timings": timings, "pass_timings": measured})
    return {
        "cores": cores,
        "batches": batches,
        "rows": rows,
        "stopped": stopped,
        "settings": len(settings),
        "host_busy_cores": others.cores_used(),
        "passes": 2,
        "pools": [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "prefix")}
            for p in threadpool_info()
        ],
    }


def _booster_thread_settings(model: LoadedModel, cores: int) -> list[_ThreadSetting]:
    """XGBoost's `nthread` and LightGBM's `num_threads`: the settings users change. (Both
    run on the process's OpenMP pool, which the blas/openmp dimension sweeps too.)"""

    def nothing() -> None:
        return None

    if model.kind == "xgboost":
        config = json.loads(model.obj.save_config())
        loaded = int(config["learner"]["generic_param"].get("nthread", 0) or 0)
        return [
            _ThreadSetting(
                row={
                    "dimension": "xgboost nthread",
                    "setting": f"nthread={threads}",
                    "value": threads,
                    "workers": threads or cores,
                    "as_loaded": threads == loaded,
                },
                enter=partial(model.obj.set_param, {"nthread": threads}),
                leave=partial(model.obj.set_param, {"nthread": loaded}),
                call=model.call,
            )
            for threads in sorted({loaded, 1, cores})
        ]
    if model.kind == "lightgbm":
        return [
            _ThreadSetting(
                row={
                    "dimension": "lightgbm num_threads",
                    "setting": f"predict(num_threads={threads})",
                    "value": threads,
                    "workers": threads or cores,
                    "as_loaded": threads == 0,
                },
                enter=nothing,
                leave=nothing,
                call=partial(model.obj.predict, num_threads=threads),
            )
            for threads in sorted({0, 1, cores})
        ]
    return []


def _torch_threads_warmed(
    model: LoadedModel, sample: Sample, batches: list[int], threads: int
) -> None:
    import torch

    torch.set_num_threads(threads)
    warm_up(model.call, sample, batches)
