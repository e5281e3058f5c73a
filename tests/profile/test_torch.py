"""Profile runs on TorchScript and torch.export models built here; skipped without torch.

torch is an optional extra, so this module is skipped where it is not installed, except
where `INFERMEDIC_REQUIRE_EXTRAS` is set (CI sets it where it installed the extras): there a
missing torch fails the run instead of skipping it. Models are small MLPs on seeded random
data, profiled concurrently with short timing cells; no assertion depends on timing. pytest
turns warnings into errors, so these tests also show that torch's deprecation warnings
(TorchScript, the TorchScript-based ONNX exporter, torch.ao.quantization) do not leak out of
the per-operator stages and the options.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infermedic.model import Report
from infermedic.profile import MeasurePlan, profile_model
from infermedic.profile.detect import ModelFormat
from infermedic.profile.worker.alternatives import (
    onnx_baseline,
    onnx_option,
    quantised_option,
    torch_options,
)
from infermedic.profile.worker.inputs import Sample
from infermedic.profile.worker.loaded import LoadedModel
from infermedic.profile.worker.loaders import load_model, load_onnx, wrap_object
from infermedic.profile.worker.phases import Budget
from infermedic.profile.worker.timing import Timing
from infermedic.profile.worker.torch_ops import (
    OTHER_OPERATORS,
    OUTSIDE_MIN_SHARE,
    OUTSIDE_OPERATORS,
    TOP_OPERATORS,
    operator_stages,
)
from infermedic.rules import Registry
from tests.profile.extras import optional_extra

# `timed`: the profile worker measures within a time budget, and what a phase that the budget
# cuts would find is missing; `make unit` runs these alone, not beside another worker.
pytestmark = pytest.mark.timed

torch = optional_extra("torch")

WIDTH = 16
REPO = Path(__file__).resolve().parents[2]


def plan(*, try_options: bool = False) -> MeasurePlan:
    return MeasurePlan(
        budget_s=40.0,
        max_batch=64,
        cell_min_s=0.005,
        cell_max_s=0.02,
        memory_calls=40,
        memory_time_cap_s=0.5,
        gc_window_s=0.1,
        try_options=try_options,
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
    jobs: dict[str, tuple[Path | str, Path | None]] = {
        "script-eval": (directory / "eval.pt", rows_path),
        "script-train": (directory / "train.pt", rows_path),
        # No input: the rows are synthesised from the exported graph's input width.
        "export-eval": (directory / "eval.pt2", None),
        # An eager nn.Module named as MODULE:ATTR, rows synthesised from its first Linear.
        "eager": ("tests.profile.torch_models:EAGER_MLP", None),
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            # One run measures the options too, through the worker as a user's run does.
            name: pool.submit(
                profile_model,
                path,
                input=data,
                plan=plan(try_options=name in {"script-eval", "eager"}),
                paths=[REPO],
            )
            for name, (path, data) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


@pytest.mark.parametrize("name", ["script-eval", "export-eval"])
def test_eval_model_is_profiled_end_to_end_without_training_mode_findings(
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
    assert "PROF008" not in codes(report), [f.message for f in report.findings]
    # An eval model is never flagged for training mode. Its autograd cost is measured, and on
    # a busy machine the timing alone can reach the speed-up threshold, so that part of
    # PROF010 is not asserted either way here.
    autograd_findings = [f.message for f in report.findings if f.code == "PROF010"]
    assert not any("training mode" in message for message in autograd_findings)


def test_a_profile_run_measures_the_onnx_export_of_a_torch_model(
    reports: dict[str, Report],
) -> None:
    options = {o["name"]: o for o in reports["script-eval"].measurements["options"]["options"]}
    exported = options["onnxruntime (torch.onnx.export)"]
    assert exported["status"] == "measured", exported.get("reason")
    assert exported["parity"]["max_abs_diff"] <= 1e-4
    assert options["dynamic INT8 (onnxruntime.quantization)"]["status"] == "measured"


def test_an_eager_module_named_as_module_attr_is_profiled_as_torch(
    reports: dict[str, Report],
) -> None:
    measurements = reports["eager"].measurements
    assert measurements["status"] == "complete", [n.message for n in reports["eager"].notifications]
    assert (measurements["load"]["kind"], measurements["load"]["n_features"]) == ("torch", WIDTH)
    stages = measurements["stages"]["batches"][-1]["stages"]
    assert any(s["name"] == "aten::addmm" and s["role"] == "operator" for s in stages)
    options = {o["name"]: o for o in measurements["options"]["options"]}
    int8 = options["dynamic INT8 (torch quantize_dynamic)"]
    assert int8["status"] == "measured" and int8["parity"]["comparable"]
    # Called with autograd on, as loaded: the autograd phase measured the difference.
    assert measurements["autograd"]["grad_enabled"] is True


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


# ---- per-operator stages and measured options, called directly on loaded models ----

BATCHES = [1, 64]
TIMING_KEYS = set(
    Timing(
        median_s=0.0,
        q1_s=0.0,
        q3_s=0.0,
        calls=0,
        blocks=0,
        calls_per_block=0,
        total_s=0.0,
        stable=False,
    ).to_dict()
)


def trained_classifier() -> Any:
    """The MLP trained on a seeded two-class problem, so label agreement means something."""
    torch.manual_seed(0)
    features = torch.randn(512, WIDTH)
    labels = (features[:, 0] + features[:, 1] > 0).long()
    model = mlp(0.0)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(100):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(features), labels).backward()
        optimiser.step()
    return model.eval()


def eager_model(module: Any, forward: Any = None) -> LoadedModel:
    """A plain nn.Module behind a numpy-in, numpy-out call, as a serving wrapper has it."""

    def call(batch: Any) -> Any:
        return module(torch.as_tensor(batch, dtype=torch.float32)).detach().numpy()

    return LoadedModel(
        kind="callable", obj=module, method="__call__", call=forward or call, is_classifier=True
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LoadedModel]:
    """The trained classifier as TorchScript, as torch.export and as an eager module."""
    directory = tmp_path_factory.mktemp("torch-classifier")
    module = trained_classifier()
    example = torch.randn(8, WIDTH)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        torch.jit.script(module).save(str(directory / "model.pt"))
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(directory / "model.pt2"))
    models = {"eager": eager_model(module)}
    with warnings.catch_warnings():
        # The loader's own warning, which the worker ignores; not what these tests are about.
        warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
        for name, fmt, file in (
            ("script", ModelFormat.TORCHSCRIPT, "model.pt"),
            ("export", ModelFormat.TORCH_EXPORT, "model.pt2"),
        ):
            model = load_model(
                fmt, path=str(directory / file), ref=file, method="auto", sys_path=[]
            )
            # The torch loader cannot tell a classifier; this one is, so parity has labels.
            models[name] = dataclasses.replace(model, is_classifier=True)
    return models


@pytest.fixture
def sample() -> Sample:
    rows = np.random.default_rng(1).standard_normal((64, WIDTH))
    return Sample(data=rows, rows=64, source="file", description="seeded normal rows")


@pytest.fixture
def budget() -> Budget:
    return Budget(deadline=time.monotonic() + 120, cell_min_s=0.005, cell_max_s=0.02)


@pytest.mark.parametrize("name", ["script", "export", "eager"])
def test_operator_stages_name_the_linear_operators_and_share_the_call(
    loaded: dict[str, LoadedModel], sample: Sample, budget: Budget, name: str
) -> None:
    model = loaded[name]
    batch = sample.take(64)
    whole = budget.cell(lambda: model.call(batch))
    stages = operator_stages(model, batch, budget, whole=whole)
    operators = [s["name"] for s in stages if s["role"] == "operator"]
    assert "aten::addmm" in operators, operators
    named = [n for n in operators if not n.endswith(f"{OTHER_OPERATORS})")]
    assert len(named) <= TOP_OPERATORS
    assert {s["role"] for s in stages} <= {"operator", "overhead"}
    # Self times partition each profiled call, so the shares sum to 1 less at most an
    # outside-operators stage too small to list.
    shares = sum(s["share_of_call"] for s in stages)
    assert 1 - OUTSIDE_MIN_SHARE - 1e-9 <= shares <= 1 + 1e-9
    assert sum(s["timing"]["median_s"] for s in stages) <= 1.5 * whole.median_s
    for stage in stages:
        timing = stage["timing"]
        assert set(timing) == TIMING_KEYS
        assert timing["calls"] >= 3
        assert 0 <= timing["q1_s"] <= timing["median_s"] <= timing["q3_s"]
        assert stage["how"].startswith("torch.profiler")


def test_python_work_around_the_module_is_the_outside_operators_stage(
    loaded: dict[str, LoadedModel], sample: Sample, budget: Budget
) -> None:
    module = loaded["eager"].obj

    def slow_forward(batch: Any) -> Any:
        # Per-value Python work before the module: none of it is a torch operator.
        rows = [[sum(math.sin(v * k) for k in range(8)) for v in row] for row in batch]
        return module(torch.tensor(rows, dtype=torch.float32)).detach().numpy()

    # One intra-op thread: on a busy machine a gemm waiting for its second thread can stall
    # for milliseconds, and what is measured here is where Python time goes, not that.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        stages = operator_stages(eager_model(module, slow_forward), sample.take(64), budget)
    finally:
        torch.set_num_threads(threads)
    medians = {s["name"]: s["timing"]["median_s"] for s in stages}
    assert max(medians, key=lambda name: medians[name]) == OUTSIDE_OPERATORS
    assert medians[OUTSIDE_OPERATORS] > 0.5 * sum(medians.values())
    assert next(s for s in stages if s["name"] == OUTSIDE_OPERATORS)["role"] == "overhead"


def test_models_that_are_not_torch_have_no_operator_stages_or_torch_options(
    sample: Sample, budget: Budget
) -> None:
    model = wrap_object(np.tanh, "auto", kind_hint="object")
    assert operator_stages(model, sample.take(8), budget) == []
    assert torch_options(model, sample, budget, BATCHES, {}) == []


def baseline(model: LoadedModel, sample: Sample, budget: Budget) -> dict[str, float]:
    return {str(b): budget.cell(lambda b=b: model.call(sample.take(b))).median_s for b in BATCHES}


@pytest.mark.parametrize("name", ["script", "export", "eager"])
def test_onnx_export_and_its_int8_quantisation_are_measured_with_parity(
    loaded: dict[str, LoadedModel], sample: Sample, budget: Budget, name: str, tmp_path: Path
) -> None:
    model = loaded[name]
    base = baseline(model, sample, budget)
    option, path = onnx_option(model, sample, budget, BATCHES, base, tmp_path)
    assert option["status"] == "measured", option.get("reason")
    assert option["name"].startswith("onnxruntime")
    assert option["parity"]["comparable"]
    assert option["parity"]["max_abs_diff"] <= 1e-4
    assert option["parity"]["label_agreement"] >= 0.98
    assert [c["batch"] for c in option["cells"]] == BATCHES
    assert all(c["speedup"] is not None for c in option["cells"])
    assert "exporter" in option["note"]
    assert path is not None
    # The batch axis is symbolic: one file serves batch 1 and batch 64 (timed above).
    assert not isinstance(load_onnx(path, intra_op_threads=1).onnx_inputs[0].shape[0], int)

    onnx_base = onnx_baseline(model, sample, budget, BATCHES, path)
    int8 = quantised_option(model, sample, budget, BATCHES, path, onnx_base, tmp_path)
    assert int8["status"] == "measured", int8.get("reason")
    assert int8["name"].startswith("dynamic INT8")
    parity = int8["parity"]
    assert parity["comparable"]
    # INT8 weights change the outputs a little, and not the labels of most rows.
    assert 0 < parity["max_abs_diff"] < 0.5
    assert parity["label_agreement"] >= 0.9


def test_torch_dynamic_int8_of_an_eager_module_is_measured_with_parity(
    loaded: dict[str, LoadedModel], sample: Sample, budget: Budget
) -> None:
    model = loaded["eager"]
    (option,) = torch_options(model, sample, budget, BATCHES, baseline(model, sample, budget))
    assert option["status"] == "measured", option.get("reason")
    assert option["name"].startswith("dynamic INT8")
    parity = option["parity"]
    assert parity["comparable"]
    assert 0 < parity["max_abs_diff"] < 0.5
    assert parity["label_agreement"] >= 0.9
    assert all(c["speedup"] is not None for c in option["cells"])


@pytest.mark.parametrize(("name", "why"), [("script", "TorchScript"), ("export", "torch.export")])
def test_torch_dynamic_int8_does_not_apply_to_compiled_graphs(
    loaded: dict[str, LoadedModel], sample: Sample, budget: Budget, name: str, why: str
) -> None:
    (option,) = torch_options(loaded[name], sample, budget, BATCHES, {})
    assert option["status"] == "not-applicable"
    assert why in option["reason"]


def test_a_module_the_exporter_cannot_convert_is_a_recorded_reason(
    sample: Sample, budget: Budget, tmp_path: Path
) -> None:
    torch.manual_seed(0)

    class Unexportable(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(WIDTH, 2)

        def forward(self, x: Any) -> Any:
            # The TorchScript-based exporter has no translation for erfinv.
            return torch.erfinv(torch.tanh(self.linear(x)))

    model = eager_model(Unexportable().eval())
    option, path = onnx_option(model, sample, budget, BATCHES, {}, tmp_path)
    assert option["status"] == "failed"
    assert "erfinv" in option["reason"]
    assert path is None


def test_torchscript_width_comes_from_its_first_linear_layer(tmp_path: Path) -> None:
    from infermedic.profile.detect import ModelFormat
    from infermedic.profile.worker.loaders import load_model

    module = mlp(0.0).eval()
    example = torch.randn(4, WIDTH)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.jit.trace(module, example).save(str(tmp_path / "traced.pt"))
        torch.jit.script(module).save(str(tmp_path / "scripted.pt"))
        conv = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.Flatten()).eval()
        torch.jit.trace(conv, torch.randn(2, 1, 8)).save(str(tmp_path / "conv.pt"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.jit.load's
        widths = {
            name: load_model(
                ModelFormat.TORCHSCRIPT,
                path=str(tmp_path / f"{name}.pt"),
                ref=name,
                method="auto",
                sys_path=[],
            ).n_features
            for name in ("traced", "scripted", "conv")
        }
    # A convolution's input shape is not in its weights: no width, so --input is required.
    assert widths == {"traced": WIDTH, "scripted": WIDTH, "conv": None}
