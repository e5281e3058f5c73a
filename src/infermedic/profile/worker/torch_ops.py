"""Torch-only work inside the worker: per-operator stages from `torch.profiler`, ONNX export
and dynamic INT8 quantisation of a loaded module.

Everything that imports torch lives here and imports it lazily, so the rest of the profile
engine runs where the optional extra is not installed.

An operator stage is a dict shaped like the other stages (`name`, `role`, `timing`, `how`)
plus `share_of_call` and `profiled_self_s`. Its `timing` has `Timing.to_dict()`'s keys, read
as follows:

- `median_s`, `q1_s`, `q3_s`: quartiles over the profiled calls of the operator's share of
  the call (its self CPU time over the call's wall time, both under the profiler), times the
  median of the call timed without the profiler. The profiler adds a few microseconds to
  every operator, which at batch 1 can double a call; shares are not skewed as much, and
  multiplying them by the unprofiled median keeps the stages summing to the call.
- `iqr_s`: `q3_s - q1_s`, the spread of that per-call estimate.
- `calls`, `blocks`: the number of profiled calls; `calls_per_block` is 1.
- `total_s`: the operator's self CPU time summed over the profiled calls, as the profiler
  measured it (profiler overhead included).
- `stable`: always False: the number of calls is fixed by the time cap, not by a stopping
  rule.

`share_of_call` is the operator's self time over all profiled calls divided by those calls'
wall time; over the stages of one batch these shares sum to at most 1 (less only by an
omitted immaterial outside-operators stage).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import sys
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infermedic.profile.worker.loaded import LoadedModel
from infermedic.profile.worker.timing import Timing, quartiles

if TYPE_CHECKING:  # phases imports this module; a runtime import back would be circular
    from infermedic.profile.worker.phases import Budget

# Operators named in the stage table, by total self time; the rest become one stage.
TOP_OPERATORS = 8
OTHER_OPERATORS = "other operators"
# Time in the call outside every torch operator: Python (nn.Module dispatch, the user's
# forward), the TorchScript interpreter, and the numpy <-> tensor wrapping of the call.
OUTSIDE_OPERATORS = "outside torch operators"
# Below this share of the call, the outside-operators stage is left out of the table.
OUTSIDE_MIN_SHARE = 0.05
MIN_PROFILED_CALLS = 3
MAX_PROFILED_CALLS = 100

_CALL_SCOPE = "infermedic::call"
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# `torch.autograd.profiler`'s RecordScope.FUNCTION: an operator dispatched by the ATen
# dispatcher (`aten::addmm`, `quantized::linear_dynamic`). Other scopes (a TorchScript method,
# a user's `record_function` block) are code around operators.
_OPERATOR_SCOPE = 0


class ConversionFailure(Exception):
    """Why a module could not be exported or quantised; the message is the recorded reason."""


def is_torch_module(model: LoadedModel) -> bool:
    """A TorchScript or torch.export model, or any object that is an `nn.Module`."""
    if model.kind == "torch":
        return True
    torch = sys.modules.get("torch")  # not imported: the object cannot be a torch module
    return torch is not None and isinstance(model.obj, torch.nn.Module)


def operator_stages(
    model: LoadedModel, batch: Any, budget: Budget, *, whole: Timing | None = None
) -> list[dict[str, Any]]:
    """The call's time per torch operator (self CPU time), for a torch model; [] otherwise.

    `whole` is the call's timed cell when the caller has one; it is measured here otherwise.
    The call is profiled for as many calls as fit in one timing cell (3 to 100), after an
    unattributed first call under the profiler.
    """
    if not is_torch_module(model):
        return []
    call = partial(model.call, batch)
    reference = whole if whole is not None else budget.cell(call)
    cap = max(0.005, min(budget.cell_max_s, budget.remaining() / 20))
    # A profiled call costs about twice the plain one at small batches.
    estimate = 2 * reference.median_s + 20e-6
    iterations = max(MIN_PROFILED_CALLS, min(MAX_PROFILED_CALLS, int(cap / estimate)))
    profiled = _profile_calls(call, iterations)
    if not profiled:
        return []
    return _stages(profiled, reference.median_s)


@dataclass(kw_only=True)
class _ProfiledCall:
    wall_s: float
    self_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def _profile_calls(call: Callable[[], object], iterations: int) -> list[_ProfiledCall]:
    from torch.profiler import ProfilerActivity, profile, record_function

    with _quiet(), profile(activities=[ProfilerActivity.CPU]) as profiler:
        call()  # outside any call scope: the profiler's own first-call cost is not counted
        for _ in range(iterations):
            with record_function(_CALL_SCOPE):
                call()
    events = list(profiler.events())
    calls: dict[int, _ProfiledCall] = {}
    roots: dict[int, Any] = {}
    for event in events:
        root = _root(event, roots)
        if root.name != _CALL_SCOPE:
            # Ops on other threads (intra-op workers) overlap the call's own span; events
            # outside a call scope belong to the warm-up call.
            continue
        profiled = calls.get(root.id)
        if profiled is None:
            profiled = calls[root.id] = _ProfiledCall(wall_s=root.cpu_time_total / 1e6)
        operator = event.scope == _OPERATOR_SCOPE and event is not root
        name = event.name if operator else OUTSIDE_OPERATORS
        profiled.self_s[name] += event.self_cpu_time_total / 1e6
    return [c for c in calls.values() if c.wall_s > 0]


def _root(event: Any, roots: dict[int, Any]) -> Any:
    """The outermost event enclosing `event` on its thread (memoised by event id)."""
    chain = []
    current = event
    while current.cpu_parent is not None and current.id not in roots:
        chain.append(current)
        current = current.cpu_parent
    root = roots.get(current.id, current)
    for member in (*chain, current):
        roots[member.id] = root
    return root


def _stages(profiled: list[_ProfiledCall], call_median_s: float) -> list[dict[str, Any]]:
    total_self: dict[str, float] = defaultdict(float)
    for one in profiled:
        for name, seconds in one.self_s.items():
            total_self[name] += seconds
    wall = sum(one.wall_s for one in profiled)

    def median_share(name: str) -> float:
        return quartiles([one.self_s.get(name, 0.0) / one.wall_s for one in profiled])[1]

    # Ordered as the table shows them (by median share), ties by total self time.
    operators = sorted(
        (name for name in total_self if name != OUTSIDE_OPERATORS),
        key=lambda name: (-median_share(name), -total_self[name]),
    )
    named = operators[:TOP_OPERATORS]
    rest = operators[TOP_OPERATORS:]
    groups: list[tuple[str, str, tuple[str, ...]]] = [(n, "operator", (n,)) for n in named]
    if rest:
        groups.append((OTHER_OPERATORS, "operator", tuple(rest)))
    if total_self[OUTSIDE_OPERATORS] / wall >= OUTSIDE_MIN_SHARE:
        groups.append((OUTSIDE_OPERATORS, "overhead", (OUTSIDE_OPERATORS,)))
    stages = []
    for name, role, members in groups:
        shares = [sum(one.self_s.get(m, 0.0) for m in members) / one.wall_s for one in profiled]
        q1, median, q3 = quartiles(shares)
        self_total = sum(total_self[m] for m in members)
        timing = Timing(
            median_s=median * call_median_s,
            q1_s=q1 * call_median_s,
            q3_s=q3 * call_median_s,
            calls=len(profiled),
            blocks=len(profiled),
            calls_per_block=1,
            total_s=self_total,
            stable=False,
        )
        stages.append(
            {
                "name": name if name != OTHER_OPERATORS else f"({len(members)} {name})",
                "role": role,
                "timing": timing.to_dict(),
                "how": f"torch.profiler ({len(profiled)} calls)",
                "share_of_call": self_total / wall,
                "profiled_self_s": self_total / len(profiled),
            }
        )
    return stages


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep torch's deprecation warnings and the ONNX exporter's log lines off the user's
    terminal: the report states what was measured and why a conversion failed."""
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        exporter_log.setLevel(level)


def weights_dtype(module: Any) -> Any:
    """The dtype of the module's floating-point parameters (float32 when it has none)."""
    import torch

    dtypes = [p.dtype for p in module.parameters() if p.is_floating_point()]
    return dtypes[0] if dtypes else torch.float32


def as_tensor(batch: Any, dtype: Any) -> Any:
    """The loader's conversion: a DataFrame or array as a tensor, floats in the weights' dtype."""
    import torch

    values = batch.to_numpy() if hasattr(batch, "to_numpy") else batch
    tensor = torch.as_tensor(values)
    if tensor.is_floating_point() and tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor


def module_caller(module: Any, dtype: Any) -> Callable[[Any], Any]:
    """A call of `module` taking the same batches as the loaded model's call."""

    def forward(batch: Any) -> Any:
        return module(as_tensor(batch, dtype)).detach().numpy()

    return forward


def export_onnx(module: Any, example: Any, path: Path) -> str:
    """Write `module` as ONNX with a dynamic batch axis; returns which exporter wrote it.

    A ScriptModule has only the TorchScript-based exporter. Other modules (an eager
    `nn.Module`, the module of a torch.export program) use the torch.export-based exporter
    when onnxscript is installed, and the TorchScript-based one otherwise or when it fails.
    """
    import torch

    if example.shape[0] < 2:
        # Exporting at batch 1 lets the exporter specialise the batch axis to 1.
        example = torch.cat([example, example])
    with _quiet():
        if isinstance(module, torch.jit.ScriptModule):
            _export_by_torchscript(module, example, path, tried=None)
            return "the TorchScript-based exporter"
        if importlib.util.find_spec("onnxscript") is None:
            tried = "onnxscript, which the torch.export-based exporter needs, is not installed"
        else:
            try:
                _export_by_torch_export(module, example, path)
                return "the torch.export-based exporter"
            except Exception as exc:  # the exporter raises many untyped errors
                tried = f"the torch.export-based exporter failed: {_brief(exc)}"
        _export_by_torchscript(module, example, path, tried=tried)
        return f"the TorchScript-based exporter ({tried})"


def _export_by_torch_export(module: Any, example: Any, path: Path) -> None:
    import torch

    # Weights over 2 GiB cannot sit inside one protobuf file.
    large = sum(p.numel() * p.element_size() for p in module.parameters()) > 1.5 * 2**30
    torch.onnx.export(
        module,
        (example,),
        str(path),
        dynamo=True,
        verbose=False,
        input_names=["input"],
        output_names=["output"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        external_data=large,
    )


def _export_by_torchscript(module: Any, example: Any, path: Path, *, tried: str | None) -> None:
    """The TorchScript-based exporter; `tried` says why the other one was not used."""
    import torch

    try:
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
            # As loaded: an exported graph refuses train(), and a module left in training
            # mode is compared as it runs.
            training=torch.onnx.TrainingMode.PRESERVE,
        )
    except Exception as exc:  # the exporter raises many untyped errors
        reason = f"the TorchScript-based exporter failed: {_brief(exc)}"
        raise ConversionFailure(f"{tried}; {reason}" if tried else reason) from exc


def _brief(exc: BaseException) -> str:
    """The first line of the innermost cause: the exporters wrap the error that names the
    operator in generic advice, colour codes included."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    lines = _ANSI_ESCAPE.sub("", str(root)).strip().splitlines()
    return f"{type(root).__name__}: {lines[0] if lines else ''}"[:300]


def dynamic_int8_blocker(module: Any) -> str | None:
    """Why `quantize_dynamic` cannot apply to `module`, or None when it can."""
    import torch

    if isinstance(module, torch.jit.ScriptModule):
        return (
            "quantize_dynamic swaps the nn.Linear layers of an eager module, and a TorchScript "
            "module is compiled code: quantise the eager module before scripting it"
        )
    if not any(isinstance(m, torch.nn.Linear) for m in module.modules()):
        if isinstance(module, torch.fx.GraphModule):
            return (
                "quantize_dynamic swaps the nn.Linear layers of an eager module, and a "
                "torch.export graph calls aten operators on bare weights: quantise the eager "
                "module before exporting it"
            )
        return "the module has no nn.Linear layers for quantize_dynamic to swap"
    return None


def quantise_linear_layers(module: Any) -> Any:
    """A copy of `module` with its nn.Linear layers dynamically quantised to INT8."""
    import torch

    quantization: Any = torch.ao.quantization  # untyped; through Any for mypy strict
    with _quiet():
        try:
            return quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
        except Exception as exc:  # unsupported engines and layers raise untyped errors
            raise ConversionFailure(f"quantize_dynamic failed: {_brief(exc)}") from exc
