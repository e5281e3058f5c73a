"""Measured options: ONNX Runtime (via skl2onnx or `torch.onnx.export`), float32 inputs, and
dynamic INT8 quantisation (ONNX Runtime's of the ONNX model, torch's of an eager module).

Each option is timed on the same batches as the model and compared with its output, so the
report states a speed-up only together with its parity. A failed conversion is recorded with
its reason, never raised.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from infermedic.profile.worker import torch_ops
from infermedic.profile.worker.inputs import Sample
from infermedic.profile.worker.loaded import LoadedModel, LoadFailure
from infermedic.profile.worker.loaders import load_onnx
from infermedic.profile.worker.outputs import output_array, parity
from infermedic.profile.worker.phases import Budget, pipeline_steps


def _measure_option(
    name: str,
    call: Callable[[Any], Any],
    sample: Sample,
    reference: Callable[[Any], Any],
    model: LoadedModel,
    budget: Budget,
    batches: list[int],
    baseline: dict[str, float],
) -> dict[str, Any]:
    largest = sample.take(max(batches))
    comparison = parity(reference(largest), call(largest), classifier=model.is_classifier)
    cells = []
    for size in batches:
        batch = sample.take(size)
        call(batch)  # warm-up: the first call of a fresh session is not steady state
        timing = budget.cell(partial(call, batch))
        base = baseline.get(str(size))
        cells.append(
            {
                "batch": size,
                "timing": timing.to_dict(),
                "baseline_median_s": base,
                "speedup": base / timing.median_s if base and timing.median_s > 0 else None,
            }
        )
    return {"name": name, "status": "measured", "parity": comparison, "cells": cells}


def baseline_medians(
    model: LoadedModel, sample: Sample, budget: Budget, batches: list[int]
) -> dict[str, float]:
    return {str(b): budget.cell(partial(model.call, sample.take(b))).median_s for b in batches}


def float32_option(
    model: LoadedModel, sample: Sample, budget: Budget, batches: list[int], base: dict[str, float]
) -> dict[str, Any]:
    if model.kind == "onnx":
        return _not_applicable("float32 inputs", "the ONNX graph fixes its input types")
    if model.kind == "torch":
        return _not_applicable(
            "float32 inputs", "inputs are cast to the weights' dtype before the module runs"
        )
    converted = sample.as_float32()
    if converted is None:
        return _not_applicable("float32 inputs", "the input is not all floating point")
    if all(_is_float32(sample.take(1))):
        return _not_applicable("float32 inputs", "the input is float32 already")

    def call(batch: Any) -> Any:
        return model.call(_as_float32(batch))

    option = _measure_option(
        "float32 inputs", call, sample, model.call, model, budget, batches, base
    )
    # The cast belongs to the option's cost: a service would receive float64 JSON numbers.
    option["note"] = "cast to float32 included in the timed call"
    return option


def _is_float32(batch: Any) -> list[bool]:
    if hasattr(batch, "dtypes"):
        return [dtype == np.float32 for dtype in batch.dtypes]
    return [getattr(batch, "dtype", None) == np.float32]


def _as_float32(batch: Any) -> Any:
    return batch.astype(np.float32)


def onnx_option(
    model: LoadedModel,
    sample: Sample,
    budget: Budget,
    batches: list[int],
    base: dict[str, float],
    workdir: Path,
) -> tuple[dict[str, Any], str | None]:
    """ONNX Runtime through skl2onnx or `torch.onnx.export`; returns the option and the
    converted file's path (None when there is none)."""
    if torch_ops.is_torch_module(model):
        return _torch_onnx_option(model, sample, budget, batches, base, workdir)
    if model.kind in {"xgboost", "lightgbm"}:
        return _booster_onnx_option(model, sample, budget, batches, base, workdir)
    name = "onnxruntime (skl2onnx)"
    if model.kind != "sklearn":
        return _not_applicable(
            name, f"conversion is tried for scikit-learn models, not {model.kind}"
        ), None
    matrix = sample.as_matrix()
    if matrix is None:
        return _not_applicable(name, "the input is not a numeric matrix"), None
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as exc:
        return _failed(name, f"skl2onnx is not installed: {exc}"), None
    final = model.obj
    steps = pipeline_steps(model)
    if steps is not None:
        final = steps[-1][1]
    options = {id(final): {"zipmap": False}} if model.is_classifier else None
    try:
        proto = convert_sklearn(
            model.obj,
            initial_types=[("input", FloatTensorType([None, matrix.shape[1]]))],
            options=options,
        )
    except Exception as exc:  # skl2onnx raises many untyped errors for unsupported estimators
        return _failed(
            name, f"skl2onnx could not convert the model: {type(exc).__name__}: {exc}"
        ), None
    return _measure_converted(name, proto, model, sample, budget, batches, base, workdir)


def _measure_converted(
    name: str,
    proto: Any,
    model: LoadedModel,
    sample: Sample,
    budget: Budget,
    batches: list[int],
    base: dict[str, float],
    workdir: Path,
) -> tuple[dict[str, Any], str | None]:
    """A converted ONNX model, loaded in ONNX Runtime and timed against the model."""
    path = workdir / "converted.onnx"
    path.write_bytes(proto.SerializeToString())
    try:
        session = load_onnx(str(path), intra_op_threads=1)
    except Exception as exc:
        return _failed(name, f"ONNX Runtime could not load the converted model: {exc}"), None
    reference_output = output_array(model.call(sample.take(1)))

    def call(batch: Any) -> Any:
        outputs = session.call(_matrix32(batch))
        return _matching_output(outputs, reference_output)

    try:
        option = _measure_option(name, call, sample, model.call, model, budget, batches, base)
    except Exception as exc:
        return _failed(
            name, f"the converted model failed to run: {type(exc).__name__}: {exc}"
        ), None
    option["note"] = "ONNX Runtime with intra_op_num_threads=1, float32 inputs"
    return option, str(path)


def _booster_onnx_option(
    model: LoadedModel,
    sample: Sample,
    budget: Budget,
    batches: list[int],
    base: dict[str, float],
    workdir: Path,
) -> tuple[dict[str, Any], str | None]:
    """ONNX Runtime for an XGBoost or LightGBM booster, converted with onnxmltools."""
    name = "onnxruntime (onnxmltools)"
    if model.categorical_features:
        return _not_applicable(name, "onnxmltools does not convert categorical splits"), None
    matrix = sample.as_matrix()
    if matrix is None:
        return _not_applicable(name, "the input is not a numeric matrix"), None
    try:
        from onnxmltools import convert_lightgbm, convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError:
        return _not_applicable(
            name,
            f"a {model.kind} booster converts to ONNX with onnxmltools, which is not installed "
            f"(pip install 'infermedic[{model.kind}]')",
        ), None
    initial_types = [("input", FloatTensorType([None, matrix.shape[1]]))]
    try:
        if model.kind == "xgboost":
            # The converter reads features as f0, f1, ...; named features are positional
            # in the converted graph, fed by the same column order.
            booster = model.obj.copy()
            booster.feature_names = None
            booster.feature_types = None
            proto = convert_xgboost(booster, initial_types=initial_types)
        else:
            proto = convert_lightgbm(model.obj, initial_types=initial_types, zipmap=False)
    except Exception as exc:  # onnxmltools raises untyped errors for unsupported objectives
        return _failed(
            name, f"onnxmltools could not convert the model: {type(exc).__name__}: {exc}"
        ), None
    return _measure_converted(name, proto, model, sample, budget, batches, base, workdir)


def _torch_onnx_option(
    model: LoadedModel,
    sample: Sample,
    budget: Budget,
    batches: list[int],
    base: dict[str, float],
    workdir: Path,
) -> tuple[dict[str, Any], str | None]:
    name = "onnxruntime (torch.onnx.export)"
    path = workdir / "converted.onnx"
    dtype = torch_ops.weights_dtype(model.obj)
    try:
        example = torch_ops.as_tensor(sample.take(min(sample.rows, 8)), dtype)
        exporter = torch_ops.export_onnx(model.obj, example, path)
    except torch_ops.ConversionFailure as exc:
        return _failed(name, f"torch.onnx.export could not convert the model: {exc}"), None
    except (TypeError, ValueError, RuntimeError) as exc:  # the batch is not a numeric tensor
        return _failed(name, f"the input cannot be a tensor example: {exc}"), None
    try:
        session = load_onnx(str(path), intra_op_threads=1)
    except LoadFailure as exc:
        return _failed(name, f"ONNX Runtime could not load the exported model: {exc}"), None
    element_type = session.onnx_inputs[0].element_type if session.onnx_inputs else "none"
    if len(session.onnx_inputs) != 1 or element_type != "tensor(float)":
        # onnx_baseline and quantised_option feed one float32 tensor, as the skl2onnx path.
        return _not_applicable(
            name, f"the exported graph takes {element_type} inputs, not one float32 tensor"
        ), None
    reference_output = output_array(model.call(sample.take(1)))

    def call(batch: Any) -> Any:
        return _matching_output(session.call(_matrix32(batch)), reference_output)

    try:
        option = _measure_option(name, call, sample, model.call, model, budget, batches, base)
    except Exception as exc:  # ORT raises its own untyped errors at run time
        return _failed(name, f"the exported model failed to run: {type(exc).__name__}: {exc}"), None
    option["note"] = (
        f"ONNX Runtime with intra_op_num_threads=1, float32 inputs; exported by {exporter}"
    )
    return option, str(path)


def _matrix32(batch: Any) -> np.ndarray:
    values = batch.to_numpy() if hasattr(batch, "to_numpy") else np.asarray(batch)
    return np.asarray(values, dtype=np.float32)


def _matching_output(outputs: list[Any], reference: np.ndarray) -> Any:
    """The ONNX output that corresponds to the model method's output (labels or scores)."""
    arrays = [output_array(o) for o in outputs]
    if reference.ndim == 1 and np.issubdtype(reference.dtype, np.floating):
        # A binary booster's one probability per row: the positive class of the converted
        # model's (rows, 2) probabilities.
        for array in arrays:
            if array.ndim == 2 and array.shape[1] == 2 and np.issubdtype(array.dtype, np.floating):
                return array[:, 1]
    for array in arrays:
        same_kind = np.issubdtype(array.dtype, np.floating) == np.issubdtype(
            reference.dtype, np.floating
        )
        if array.ndim == reference.ndim and array.shape[1:] == reference.shape[1:] and same_kind:
            return array
    for array in arrays:
        if array.size // max(len(array), 1) == reference.size // max(len(reference), 1):
            return array.reshape((len(array), *reference.shape[1:]))
    return arrays[-1]


def quantised_option(
    model: LoadedModel,
    sample: Sample,
    budget: Budget,
    batches: list[int],
    onnx_path: str | None,
    onnx_base: dict[str, float] | None,
    workdir: Path,
) -> dict[str, Any]:
    name = "dynamic INT8 (onnxruntime.quantization)"
    if onnx_path is None or onnx_base is None:
        return _not_applicable(name, "no ONNX model to quantise")
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        return _failed(name, f"onnxruntime.quantization is unavailable: {exc}")
    source_ops = {node.op_type for node in onnx.load(onnx_path).graph.node}
    if not source_ops & {"MatMul", "Gemm", "Conv", "Attention", "LSTM", "GRU"}:
        return _not_applicable(name, "the graph has no MatMul/Gemm/Conv weights to quantise")
    target = workdir / "quantised.onnx"
    try:
        with _root_log_errors_only():
            quantize_dynamic(onnx_path, str(target), weight_type=QuantType.QInt8)
    except Exception as exc:  # the quantiser raises untyped errors on unsupported graphs
        return _failed(name, f"quantize_dynamic failed: {type(exc).__name__}: {exc}")
    ops = {node.op_type for node in onnx.load(str(target)).graph.node}
    if not ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul"}:
        return _not_applicable(name, "the graph has no MatMul/Gemm/Conv weights to quantise")
    float_model = load_onnx(onnx_path, intra_op_threads=1)
    int8_model = load_onnx(str(target), intra_op_threads=1)
    reference_output = output_array(float_model.call(_feed(model, float_model, sample.take(1))))

    def float_call(batch: Any) -> Any:
        return _matching_output(
            float_model.call(_feed(model, float_model, batch)), reference_output
        )

    def int8_call(batch: Any) -> Any:
        return _matching_output(int8_model.call(_feed(model, int8_model, batch)), reference_output)

    option = _measure_option(name, int8_call, sample, float_call, model, budget, batches, onnx_base)
    option["note"] = "compared with the float ONNX model, both with one intra-op thread"
    return option


@contextmanager
def _root_log_errors_only() -> Iterator[None]:
    """The quantiser logs advice ("consider pre-processing") on the root logger; the report
    carries the measured outcome instead, so the advice is kept off the user's terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def _feed(model: LoadedModel, session: LoadedModel, batch: Any) -> Any:
    if model.kind == "onnx":
        return batch
    return _matrix32(batch)


def onnx_baseline(
    model: LoadedModel, sample: Sample, budget: Budget, batches: list[int], onnx_path: str
) -> dict[str, float]:
    session = load_onnx(onnx_path, intra_op_threads=1)
    medians: dict[str, float] = {}
    for size in batches:
        batch = _feed(model, session, sample.take(size))
        session.call(batch)
        medians[str(size)] = budget.cell(partial(session.call, batch)).median_s
    return medians


def torch_options(
    model: LoadedModel, sample: Sample, budget: Budget, batches: list[int], base: dict[str, float]
) -> list[dict[str, Any]]:
    """The options only a torch module has (torch's dynamic INT8); [] for other models."""
    if not torch_ops.is_torch_module(model):
        return []
    return [_torch_dynamic_int8_option(model, sample, budget, batches, base)]


def _torch_dynamic_int8_option(
    model: LoadedModel, sample: Sample, budget: Budget, batches: list[int], base: dict[str, float]
) -> dict[str, Any]:
    name = "dynamic INT8 (torch quantize_dynamic)"
    reason = torch_ops.dynamic_int8_blocker(model.obj)
    if reason is not None:
        return _not_applicable(name, reason)
    try:
        quantised = torch_ops.quantise_linear_layers(model.obj)
    except torch_ops.ConversionFailure as exc:
        return _failed(name, str(exc))
    call = torch_ops.module_caller(quantised, torch_ops.weights_dtype(model.obj))
    try:
        option = _measure_option(name, call, sample, model.call, model, budget, batches, base)
    except Exception as exc:  # a quantised kernel may reject a shape or dtype at run time
        return _failed(name, f"the quantised module failed to run: {type(exc).__name__}: {exc}")
    option["note"] = (
        "nn.Linear layers with INT8 weights and dynamically quantised activations, "
        "compared with the module as loaded"
    )
    return option


def _not_applicable(name: str, reason: str) -> dict[str, Any]:
    return {"name": name, "status": "not-applicable", "reason": reason}


def _failed(name: str, reason: str) -> dict[str, Any]:
    return {"name": name, "status": "failed", "reason": reason}


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="infermedic-profile-")
