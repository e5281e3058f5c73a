"""Profile runs on TorchScript and torch.export models built here; skipped without torch.

torch is an optional extra and CI does not install it, so this module is skipped there; it
runs wherever `pip install torch` (the CPU wheel) was done. Models are small MLPs on seeded
random data, profiled concurrently with short timing cells; no assertion depends on timing.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infermedic.model import Report
from infermedic.profile import MeasurePlan, profile_model
from infermedic.rules import Registry

torch = pytest.importorskip("torch")

WIDTH = 16


def plan() -> MeasurePlan:
    return MeasurePlan(
        budget_s=40.0,
        max_batch=64,
        cell_min_s=0.005,
        cell_max_s=0.02,
        memory_calls=40,
        memory_time_cap_s=0.5,
        gc_window_s=0.1,
        try_options=False,
    )


def mlp(dropout: float) -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(WIDTH, 32),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(32, 2),
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Report]:
    directory = tmp_path_factory.mktemp("torch-models")
    rows = np.random.default_rng(0).standard_normal((64, WIDTH))
    np.save(directory / "rows.npy", rows)
    example = torch.as_tensor(rows[:8], dtype=torch.float32)
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript, but services still ship .pt files; we load them.
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        torch.jit.script(mlp(0.5).eval()).save(str(directory / "eval.pt"))
        torch.jit.script(mlp(0.5).train()).save(str(directory / "train.pt"))
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(mlp(0.5).eval(), (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(directory / "eval.pt2"))
    rows_path = directory / "rows.npy"
    jobs: dict[str, tuple[Path, Path | None]] = {
        "script-eval": (directory / "eval.pt", rows_path),
        "script-train": (directory / "train.pt", rows_path),
        # No input: the rows are synthesised from the exported graph's input width.
        "export-eval": (directory / "eval.pt2", None),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            name: pool.submit(profile_model, path, input=data, plan=plan())
            for name, (path, data) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


@pytest.mark.parametrize("name", ["script-eval", "export-eval"])
def test_eval_model_is_profiled_end_to_end_without_autograd_findings(
    reports: dict[str, Report], name: str
) -> None:
    report = reports[name]
    measurements = report.measurements
    assert measurements["status"] == "complete", [n.message for n in report.notifications]
    assert measurements["load"]["kind"] == "torch"
    assert [c["batch"] for c in measurements["batch-sweep"]["cells"]][:3] == [1, 2, 4]
    torch_rows = [
        row
        for row in measurements["threads"]["rows"]
        if row["dimension"] == "torch intra-op threads"
    ]
    assert {row["value"] for row in torch_rows} >= {1}
    assert sum(row["as_loaded"] for row in torch_rows) == 1
    assert measurements["determinism"]["max_abs_diff"] == 0.0
    autograd = measurements["autograd"]
    assert autograd["training"] is False
    assert autograd["parity"]["max_abs_diff"] == 0.0
    assert autograd["inference_mode_speedup"] > 0
    assert not codes(report) & {"PROF008", "PROF010"}, [f.message for f in report.findings]


def test_export_input_is_synthesised_from_the_graph(reports: dict[str, Report]) -> None:
    report = reports["export-eval"]
    assert report.measurements["input"]["source"] == "synthetic"
    assert report.measurements["load"]["n_features"] == WIDTH
    assert report.measurements["autograd"]["context"] == "torch.inference_mode()"


def test_model_left_in_training_mode_is_prof010_and_prof008(reports: dict[str, Report]) -> None:
    report = reports["script-train"]
    assert {"PROF008", "PROF010"} <= codes(report)
    finding = next(f for f in report.findings if f.code == "PROF010")
    assert "training mode" in finding.message
    values = finding.evidence[0].values
    assert values["training"] is True
    assert values["context"] == "torch.no_grad()"
    # Dropout is live, so the autograd-off call differs from the as-loaded one.
    assert values["parity"]["max_abs_diff"] > 0.0


def test_prof010_is_in_the_catalogue() -> None:
    rule = Registry.default().get("PROF010")
    assert rule is not None
    assert rule.name == "autograd-left-on"
