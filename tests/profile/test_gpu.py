"""The device phase and PROF011.

CI machines have no GPU. The device phase is the same code on `device="cpu"` (host timers
instead of CUDA events, no OOM search), so it runs here on a real torch model; PROF011 is
judged on recorded device measurements; the CUDA test at the end runs only where torch sees
a GPU (a lent GPU machine), per the issue.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from infermedic.cli.app import cli
from infermedic.model import Location, NotificationLevel
from infermedic.profile import MeasurePlan, profile_model
from infermedic.profile.config import ProfileThresholds
from infermedic.profile.context import ProfileObservations
from infermedic.profile.results import ProfileResults
from infermedic.profile.rules.gpu_bound import GpuTransferOrLaunchBound
from infermedic.profile.worker.inputs import synthesise
from tests.profile.extras import optional_extra

WIDTH = 16


def _require_torch() -> Any:
    return optional_extra("torch")


def _loaded_mlp(torch: Any) -> Any:
    from infermedic.profile.worker.loaded import LoadedModel

    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(WIDTH, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3)
    ).eval()

    def forward(batch: Any) -> Any:
        with torch.no_grad():
            return module(torch.as_tensor(np.asarray(batch), dtype=torch.float32)).numpy()

    return LoadedModel(
        kind="torch", obj=module, method="forward", call=forward, n_features=WIDTH, training=False
    )


def test_device_phase_runs_on_the_cpu_and_gives_the_module_back() -> None:
    torch = _require_torch()
    from infermedic.profile.worker.gpu import device_phase

    model = _loaded_mlp(torch)
    sample = synthesise(model, 64)
    before = model.call(sample.take(8))
    result = device_phase(
        model,
        sample,
        batches=[1, 64],
        deadline=time.monotonic() + 20,
        device="cpu",
        try_compile=False,
    )
    assert result["device"] == "cpu"
    assert [cell["batch"] for cell in result["cells"]] == [1, 64]
    for cell in result["cells"]:
        assert cell["compute_s"] > 0 and cell["wall_s"] >= cell["compute_s"]
        assert 0 <= cell["transfer_share"] <= 1
        assert cell["reps"] >= 3
    assert result["memory"] == {"searched": False, "reason": "searched on an accelerator only"}
    options = {o["name"]: o for o in result["options"]}
    bf16 = options["autocast bfloat16"]
    assert bf16["status"] == "measured"
    # bf16 keeps 8 bits of mantissa: close to float32, not equal.
    assert 0 < bf16["parity"]["max_abs_diff"] < 0.1
    assert options["torch.compile"]["status"] == "not-applicable"
    assert all(p.device.type == "cpu" for p in model.obj.parameters())
    np.testing.assert_array_equal(model.call(sample.take(8)), before)


def _context(gpu: dict[str, Any], **limits: Any) -> ProfileObservations:
    return ProfileObservations(
        results=ProfileResults.from_phases({"gpu": gpu}),
        thresholds=ProfileThresholds(**limits),
        location=Location(path="model.pt2"),
        action="infermedic profile model.pt2 --device cuda",
    )


def _cell(batch: int, h2d_ms: float, compute_ms: float, d2h_ms: float) -> dict[str, Any]:
    total = h2d_ms + compute_ms + d2h_ms
    return {
        "batch": batch,
        "h2d_s": h2d_ms / 1e3,
        "compute_s": compute_ms / 1e3,
        "d2h_s": d2h_ms / 1e3,
        "wall_s": total / 1e3 * 1.1,
        "transfer_share": (h2d_ms + d2h_ms) / total,
        "reps": 20,
    }


def test_prof011_fires_when_copies_dominate_a_device_call() -> None:
    gpu = {
        "device": "cuda",
        "device_name": "H100",
        "cells": [_cell(1, 0.02, 0.05, 0.01), _cell(512, 2.0, 0.6, 0.4)],
    }
    findings = list(GpuTransferOrLaunchBound().check(_context(gpu)))
    assert len(findings) == 1
    assert "copies take 80% of a call at batch 512" in findings[0].message
    assert findings[0].evidence[0].values["transfer_cell"]["batch"] == 512
    # Tiny copies at batch 1 (0.03 ms) stay under the 0.1 ms floor.
    assert "batch 1 " not in findings[0].message


def test_prof011_fires_when_the_device_is_mostly_idle_and_not_when_it_computes() -> None:
    idle = {
        "device": "cuda",
        "cells": [_cell(64, 0.01, 1.0, 0.01)],
        "busy": {"share": 0.12, "kernel_s_per_call": 0.00012, "wall_s_per_call": 0.001},
    }
    findings = list(GpuTransferOrLaunchBound().check(_context(idle)))
    assert len(findings) == 1 and "12% of the call's wall time" in findings[0].message
    busy = {**idle, "busy": {"share": 0.85, "kernel_s_per_call": 0.00085, "wall_s_per_call": 0.001}}
    assert list(GpuTransferOrLaunchBound().check(_context(busy))) == []
    # The threshold is the user's: a stricter busy floor turns the busy device into a finding.
    assert list(GpuTransferOrLaunchBound().check(_context(busy, gpu_min_busy_share=0.9)))
    assert list(GpuTransferOrLaunchBound().check(_context({"device": "cuda", "cells": []}))) == []


@pytest.fixture(scope="module")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    path = tmp_path_factory.mktemp("gpu") / "logistic.joblib"
    joblib.dump(LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), path)
    return path


def test_asking_for_a_device_for_a_non_torch_model_is_a_warning(sklearn_model: Path) -> None:
    report = profile_model(
        sklearn_model, plan=MeasurePlan.quick(device="cuda", try_options=False, budget_s=20)
    )
    warnings = [n.message for n in report.notifications if n.level is NotificationLevel.WARNING]
    assert any("device measurements need a torch model" in w for w in warnings), warnings
    assert "gpu" not in report.measurements


def test_cli_rejects_an_unknown_device(sklearn_model: Path) -> None:
    result = CliRunner().invoke(cli, ["profile", str(sklearn_model), "--device", "tpu"])
    assert result.exit_code == 2
    assert "is not auto, cpu, cuda or cuda:N" in result.output


def test_device_phase_on_a_real_gpu() -> None:
    torch = _require_torch()
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (runs on a lent GPU machine only)")
    from infermedic.profile.worker.gpu import device_phase

    model = _loaded_mlp(torch)
    result = device_phase(
        model,
        synthesise(model, 256),
        batches=[1, 256],
        deadline=time.monotonic() + 120,
        device="cuda",
        try_compile=True,
    )
    assert all(cell["h2d_s"] > 0 and cell["peak_bytes"] for cell in result["cells"])
    assert result["busy"]["share"] is not None
    assert result["memory"]["searched"] and result["memory"]["largest_ok"] >= 256
    names = {o["name"]: o["status"] for o in result["options"]}
    assert names["autocast float16"] == "measured"


def test_device_phase_takes_modules_that_return_several_tensors() -> None:
    torch = _require_torch()
    from infermedic.profile.worker.gpu import device_phase

    class TwoHeads(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Linear(WIDTH, 8)

        def forward(self, x: Any) -> Any:
            hidden = self.body(x)
            return {"score": hidden.sum(dim=1), "embedding": hidden}

    model = _loaded_mlp(torch)
    model.obj = TwoHeads().eval()
    result = device_phase(
        model,
        synthesise(model, 32),
        batches=[1, 32],
        deadline=time.monotonic() + 20,
        device="cpu",
        try_compile=False,
    )
    assert [cell["batch"] for cell in result["cells"]] == [1, 32]
    assert {o["name"]: o["status"] for o in result["options"]}["autocast bfloat16"] == "measured"
