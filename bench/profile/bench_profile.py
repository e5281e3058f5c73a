"""Benchmarks of `infermedic profile`: harness overhead, agreement with timeit, default wall time.

Run: `.venv/bin/python bench/profile/bench_profile.py [--skip-wall]`. Prints a Markdown
summary and writes `bench/profile/last_run.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import timeit
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from infermedic.profile import profile_model
from infermedic.profile.worker.timing import measure

HERE = Path(__file__).resolve().parent


def harness_overhead(replicates: int = 7) -> dict[str, float]:
    """Per-call cost the harness adds: the median of timing a call that does nothing."""

    def nothing() -> None:
        return None

    medians = [
        measure(nothing, min_time_s=0.2, max_time_s=0.5).median_s * 1e9 for _ in range(replicates)
    ]
    return {"median_ns": statistics.median(medians), "max_ns": max(medians)}


def versus_timeit(call_name: str, call: object, rounds: int = 5) -> dict[str, float]:
    """The harness's median against `timeit.repeat` on the same call, interleaved."""
    assert callable(call)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        timing = measure(call, min_time_s=0.3, max_time_s=1.0)
        ours.append(timing.median_s)
        number = max(1, timing.calls_per_block)
        runs = timeit.repeat(call, number=number, repeat=max(7, timing.blocks))
        theirs.append(statistics.median(runs) / number)
    a = statistics.median(ours)
    b = statistics.median(theirs)
    return {
        "call": call_name,
        "harness_median_us": a * 1e6,
        "timeit_median_us": b * 1e6,
        "relative_difference": abs(a - b) / b,
    }


def versus_torch_benchmark(rounds: int = 5) -> list[dict[str, object]]:
    """The harness's median against `torch.utils.benchmark`'s `blocked_autorange` on a torch
    MLP's forward (the anchor the issue names), interleaved; [] without torch."""
    try:
        import torch
        import torch.utils.benchmark as torch_benchmark
    except ImportError:
        return []
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(32, 256), torch.nn.ReLU(), torch.nn.Linear(256, 4)
    ).eval()
    rows: list[dict[str, object]] = []
    for batch in (1, 64):
        x = torch.randn(batch, 32)

        def forward(x: object = x) -> object:
            with torch.inference_mode():
                return mlp(x)

        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(rounds):
            ours.append(measure(forward, min_time_s=0.3, max_time_s=1.0).median_s)
            # Timer runs single-threaded unless told: give it the threads the harness sees.
            timer = torch_benchmark.Timer(
                stmt="forward()", globals={"forward": forward}, num_threads=torch.get_num_threads()
            )
            theirs.append(timer.blocked_autorange(min_run_time=0.3).median)
        a = statistics.median(ours)
        b = statistics.median(theirs)
        rows.append(
            {
                "call": f"torch MLP forward, batch {batch}",
                "harness_median_us": a * 1e6,
                "torch_benchmark_median_us": b * 1e6,
                "relative_difference": abs(a - b) / b,
            }
        )
    return rows


def default_wall(path: Path | str) -> dict[str, object]:
    started = time.perf_counter()
    report = profile_model(path)
    return {
        "model": Path(path).name if isinstance(path, Path) else path,
        "wall_s": time.perf_counter() - started,
        "status": report.measurements["status"],
        "findings": sorted({f.code for f in report.findings}),
        "phase_started_s": report.measurements["worker"]["phase_started_s"],
        "recommended_batch": report.measurements["batch-sweep"]["recommended_batch"],
    }


def _other_formats(directory: Path, X: np.ndarray, y: np.ndarray) -> list[Path]:
    """A TorchScript MLP and an XGBoost model, where those extras are installed."""
    paths: list[Path] = []
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.manual_seed(0)
        mlp = torch.nn.Sequential(
            torch.nn.Linear(X.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, 2)
        ).eval()
        example = torch.as_tensor(X[:8], dtype=torch.float32)
        traced = torch.jit.trace(mlp, example)
        traced.save(str(directory / "mlp.pt"))
        paths.append(directory / "mlp.pt")
    try:
        import xgboost
    except ImportError:
        pass
    else:
        booster = xgboost.XGBClassifier(n_estimators=100, max_depth=6, random_state=0).fit(X, y)
        booster.save_model(directory / "xgb.ubj")
        paths.append(directory / "xgb.ubj")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-wall", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    linear = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    forest = make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=100, random_state=0)
    ).fit(X, y)
    one = X[:1]
    results: dict[str, object] = {
        "overhead": harness_overhead(),
        "versus_timeit": [
            versus_timeit(
                "linear pipeline predict_proba, 1 row", lambda: linear.predict_proba(one)
            ),
            versus_timeit("numpy 20x20 matmul", lambda: X[:20] @ X[:20].T),
        ],
        "versus_torch_benchmark": versus_torch_benchmark(),
    }
    if not args.skip_wall:
        with tempfile.TemporaryDirectory() as scratch:
            walls = []
            for name, model in (("linear.joblib", linear), ("forest.joblib", forest)):
                path = Path(scratch) / name
                joblib.dump(model, path)
                walls.append(default_wall(path))
            walls.extend(default_wall(path) for path in _other_formats(Path(scratch), X, y))
            results["default_profile"] = walls
    (HERE / "last_run.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
