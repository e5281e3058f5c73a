"""What a profile run measured, phase by phase, as typed frozen data the PROF rules judge.

The worker streams each phase's measurements as one JSON line (`protocol.PhaseResult`); the
parent turns them into these objects at the process boundary (`ProfileResults.from_phases`),
before any rule, table or report reads them. Every PROF rule reads only a
`ProfileObservations` (these results, the thresholds and where the model is).

`ProfileResults` round-trips through JSON (`to_json`/`from_json`, with `format` and
`schema_version`): a recorded run is a rule's test fixture, and a saved run can be judged
again. The report keeps each phase under its name in `measurements` (`to_phases`), and
`ProfileResults.from_report` reads them back from a profile report's JSON.

Pydantic (which validates the JSON) is imported on first use only: the rule catalogue, which
every command loads, imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from infermedic.errors import InputError

if TYPE_CHECKING:
    from pydantic import TypeAdapter

RESULTS_FORMAT = "infermedic-profile-results"
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class Timing:
    """An adaptive timing (`timing.Timing.to_dict`). A sampled stage knows only its median;
    a device option its median and no call count."""

    median_s: float
    q1_s: float | None = None
    q3_s: float | None = None
    iqr_s: float | None = None
    calls: int | None = None
    blocks: int | None = None
    calls_per_block: int | None = None
    total_s: float | None = None
    stable: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadPool:
    """One threadpoolctl pool (BLAS or OpenMP) as loaded."""

    user_api: str | None = None
    internal_api: str | None = None
    num_threads: int | None = None
    prefix: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class VersionWarning:
    """scikit-learn's `InconsistentVersionWarning` for one estimator in the pickle."""

    estimator: str
    saved_with: str
    loaded_with: str
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadResult:
    """Phase `load`: how long the model took to load, what it is, which versions."""

    load_s: float
    warm_load_s: float | None = None  # a second load with the libraries already imported
    rss_before_bytes: int | None = None
    rss_after_bytes: int | None = None
    kind: str
    method: str
    type: str
    is_classifier: bool = False
    n_features: int | None = None
    feature_names: tuple[str, ...] | None = None
    saved_with: Mapping[str, str] = field(default_factory=dict)  # versions the artifact records
    loaded_with: Mapping[str, str] = field(default_factory=dict)
    version_warnings: tuple[VersionWarning, ...] = ()
    load_warnings: tuple[str, ...] = ()
    threadpools: tuple[ThreadPool, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class InputResult:
    """Phase `input`: the rows the model was called on."""

    source: str  # file | request | synthetic
    description: str
    rows: int
    nan_count: int = 0
    nan_columns: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class FirstCallResult:
    """Phase `first-call`: the first two calls at batch 1, and what the output looks like."""

    first_s: float
    second_s: float
    output_shape: tuple[int, ...] | None = None
    output_dtype: str | None = None
    output_has_nan: bool = False
    output_invalid: tuple[str, ...] = ()
    output_value_problems: tuple[str, ...] = ()
    output_rows: Mapping[str, int | None] = field(default_factory=dict)  # batch -> rows out
    output_warnings: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class SweepCell:
    batch: int
    timing: Timing
    rows_per_s: float | None
    peak_alloc_bytes: int = 0
    output_rows: int | None = None
    output_invalid: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchSweepResult:
    """Phase `batch-sweep`: one cell per batch size, and the batch recommended."""

    cells: tuple[SweepCell, ...]
    stopped: str
    recommended_batch: int
    latency_budget_s: float | None = None

    def cell(self, batch: int) -> SweepCell | None:
        return next((c for c in self.cells if c.batch == batch), None)


@dataclass(frozen=True, kw_only=True, slots=True)
class TopFrame:
    frame: str
    samples: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Stage:
    """One stage of a call: a Pipeline step, the request decode, a sampled function or a
    torch operator group. `how` says how it was measured (None: timed)."""

    name: str
    role: str  # decode | preprocessing | model | code | ...
    timing: Timing
    how: str | None = None
    samples: int | None = None  # sampled stages
    share: float | None = None
    called_at: str | None = None  # path:line of the call, when sampling saw it
    top_frames: tuple[TopFrame, ...] = ()
    share_of_call: float | None = None  # torch operator stages
    profiled_self_s: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StageBatch:
    batch: int
    call: Timing  # the whole call
    total_s: float  # the call plus the request decode
    stages: tuple[Stage, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class StagesResult:
    """Phase `stages`: per-stage time at each batch."""

    batches: tuple[StageBatch, ...]
    pipeline: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class DeterminismResult:
    """Phase `determinism`: three calls on one batch compared."""

    batch: int
    calls: int
    max_abs_diff: float
    label_agreement: float
    output_shape: tuple[int, ...] | None = None
    output_has_nan: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryResult:
    """Phase `memory`: the traced Python heap across identical calls."""

    batch: int
    calls: int
    traced_bytes: tuple[int, ...]
    growth_bytes: int
    growth_per_call_bytes: float
    grew_every_interval: bool
    rss_start_bytes: int | None = None
    rss_end_bytes: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GcResult:
    """Phase `gc`: collections and their pauses during repeated calls."""

    batch: int
    calls: int
    elapsed_s: float
    collections: tuple[int, ...]  # per generation
    pause_s: float
    max_pause_s: float
    pause_share: float


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadRow:
    """One thread setting, timed at each batch (`timings` keeps its faster pass)."""

    dimension: str  # n_jobs | blas/openmp threads | ...
    setting: str
    value: int | None = None
    workers: int
    as_loaded: bool
    timings: Mapping[str, Timing]  # batch (as text) -> timing
    pass_timings: tuple[Mapping[str, Timing], ...] | None = None  # one per pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadsResult:
    """Phase `threads`: every thread setting the model's libraries offer."""

    cores: int
    batches: tuple[int, ...]
    rows: tuple[ThreadRow, ...]
    stopped: str | None = None  # why the sweep stopped early (the budget)
    settings: int = 0  # settings planned
    passes: int = 2
    pools: tuple[ThreadPool, ...] = ()
    # cores that other processes used, on average, while the sweep ran (None: not measured)
    host_busy_cores: float | None = None

    def by_dimension(self) -> dict[str, list[ThreadRow]]:
        grouped: dict[str, list[ThreadRow]] = {}
        for row in self.rows:
            grouped.setdefault(row.dimension, []).append(row)
        return grouped


@dataclass(frozen=True, kw_only=True, slots=True)
class Parity:
    """How far another way of calling the model is from the model as loaded."""

    rows: int
    comparable: bool
    reason: str | None = None
    max_abs_diff: float | None = None
    label_agreement: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OptionCell:
    batch: int
    timing: Timing
    baseline_median_s: float | None
    speedup: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class OptionResult:
    """One measured option (ONNX Runtime, float32, INT8, torch.compile, autocast ...)."""

    name: str
    status: Literal["measured", "failed", "not-applicable"]
    reason: str | None = None
    parity: Parity | None = None
    cells: tuple[OptionCell, ...] = ()
    note: str | None = None

    def best_cell(self) -> OptionCell | None:
        cells = [c for c in self.cells if c.speedup]
        return max(cells, key=lambda c: c.speedup or 0.0) if cells else None


@dataclass(frozen=True, kw_only=True, slots=True)
class OptionsResult:
    """Phase `options`: each option timed on the batches of the model as loaded."""

    batches: tuple[int, ...] = ()
    baseline: Mapping[str, float] = field(default_factory=dict)
    options: tuple[OptionResult, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class AutogradCell:
    batch: int
    as_loaded: Timing
    inference_mode: Timing
    speedup: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class AutogradResult:
    """Phase `autograd` (torch): the call as loaded and with autograd off."""

    training: bool | None
    context: str = "torch.inference_mode()"
    grad_enabled: bool = True
    parameters_require_grad: bool = False
    batches: tuple[int, ...] = ()
    cells: tuple[AutogradCell, ...] = ()
    batch: int
    as_loaded_median_s: float
    inference_median_s: float
    inference_mode_speedup: float | None
    parity: Parity | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GpuCell:
    """One device call split into copies and compute (medians)."""

    batch: int
    h2d_s: float
    compute_s: float
    d2h_s: float
    wall_s: float
    reps: int
    transfer_share: float | None = None
    rows_per_s: float | None = None
    peak_bytes: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GpuBusy:
    share: float | None = None  # of the wall time the device ran kernels
    reason: str | None = None
    kernel_s_per_call: float | None = None
    wall_s_per_call: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GpuMemory:
    searched: bool
    reason: str | None = None
    largest_ok: int | None = None
    first_oom: int | None = None
    stopped_by: str | None = None
    device_total_bytes: int | None = None
    device_free_bytes: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NvmlReading:
    available: bool
    reason: str | None = None
    gpu_util_median: float | None = None
    memory_util_median: float | None = None
    samples: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GpuResult:
    """Phase `gpu` (torch on an accelerator): device calls, busy share, options."""

    device: str
    device_name: str | None = None
    dtype: str | None = None
    notes: tuple[str, ...] = ()
    cells: tuple[GpuCell, ...] = ()
    busy: GpuBusy | None = None
    memory: GpuMemory | None = None
    options: tuple[OptionResult, ...] = ()
    nvml: NvmlReading | None = None


# The phases in the order the worker runs them, each with its type (the phase name is the
# report's measurements key).
PHASES: dict[str, type[Any]] = {
    "load": LoadResult,
    "input": InputResult,
    "first-call": FirstCallResult,
    "batch-sweep": BatchSweepResult,
    "stages": StagesResult,
    "determinism": DeterminismResult,
    "memory": MemoryResult,
    "gc": GcResult,
    "threads": ThreadsResult,
    "autograd": AutogradResult,
    "options": OptionsResult,
    "gpu": GpuResult,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileResults:
    """Every phase a profile run measured; None for a phase that did not run (skipped, cut
    by the budget, failed, or not applicable to this model)."""

    schema_version: int = SCHEMA_VERSION
    load: LoadResult | None = None
    input: InputResult | None = None
    first_call: FirstCallResult | None = None
    batch_sweep: BatchSweepResult | None = None
    stages: StagesResult | None = None
    determinism: DeterminismResult | None = None
    memory: MemoryResult | None = None
    gc: GcResult | None = None
    threads: ThreadsResult | None = None
    autograd: AutogradResult | None = None
    options: OptionsResult | None = None
    gpu: GpuResult | None = None

    def ran(self, phase: str) -> bool:
        """Whether `phase` (its report name, e.g. `batch-sweep`) has a result."""
        return phase in PHASES and getattr(self, _attribute(phase)) is not None

    def measured_options(self) -> list[OptionResult]:
        """The options measured on the CPU and, for torch models on a GPU, on the device."""
        found = list(self.options.options) if self.options else []
        if self.gpu is not None:
            found.extend(self.gpu.options)
        return found

    def with_phase(self, phase: str, data: Any) -> ProfileResults:
        """These results with `phase`'s JSON data typed in; `InputError` for a phase this
        version does not know or data that does not parse."""
        kind = PHASES.get(phase)
        if kind is None:
            raise InputError(f"unknown profile phase {phase!r}")
        from pydantic import ValidationError

        try:
            value = adapter(kind).validate_python(data)
        except ValidationError as exc:
            raise InputError(f"profile phase {phase!r} does not parse: {exc}") from exc
        return replace(self, **{_attribute(phase): value})

    @classmethod
    def from_phases(cls, phases: Mapping[str, Any]) -> ProfileResults:
        """The typed results of the worker's phase results (phase name -> JSON data), as
        they arrive on the protocol stream or stand in a report's measurements. A phase
        whose data does not parse is an `InputError` naming it."""
        results = cls()
        for phase in PHASES:
            data = phases.get(phase)
            if data is not None:
                results = results.with_phase(phase, data)
        return results

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> ProfileResults:
        """The results of a profile report's JSON (`--format json`), for readers of a saved
        report (diagnose, the renderers)."""
        measurements = report.get("measurements", report)
        if not isinstance(measurements, Mapping):
            raise InputError("a profile report's measurements are not a JSON object")
        return cls.from_phases(measurements)

    def to_phases(self) -> dict[str, Any]:
        """Phase name -> JSON data, the phases that ran (the report's measurements)."""
        out: dict[str, Any] = {}
        for phase, kind in PHASES.items():
            value = getattr(self, _attribute(phase))
            if value is not None:
                out[phase] = adapter(kind).dump_python(value, mode="json")
        return out

    def to_json(self) -> str:
        document = {
            "format": RESULTS_FORMAT,
            "schema_version": self.schema_version,
            "phases": self.to_phases(),
        }
        return json.dumps(document, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> ProfileResults:
        """Read saved results; another format or schema version is an `InputError`."""
        document = read_tagged(text, RESULTS_FORMAT, "profile results")
        phases = document.get("phases")
        if not isinstance(phases, Mapping):
            raise InputError("profile results: `phases` is not a JSON object")
        return cls.from_phases(phases)


def read_tagged(
    text: str | bytes, form: str, what: str, schema_version: int = SCHEMA_VERSION
) -> Mapping[str, Any]:
    """A saved JSON document tagged with `format` and `schema_version`; anything else (not
    JSON, another format or version) is an `InputError` naming `what`."""
    from infermedic.jsontext import parse

    document = parse(text, what)
    if not isinstance(document, Mapping) or document.get("format") != form:
        raise InputError(f"{what}: not an {form} document")
    version = document.get("schema_version")
    if version != schema_version:
        raise InputError(
            f"{what}: schema version {version!r}, this infermedic reads {schema_version}"
        )
    return document


def _attribute(phase: str) -> str:
    return phase.replace("-", "_")


def adapter(kind: type[Any]) -> TypeAdapter[Any]:
    """Pydantic's validator and serialiser for a typed result, made once per type."""
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    return adapter


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def to_json_value(value: Any) -> Any:
    """Any typed result (or a tuple or mapping of them) as plain JSON data."""
    return adapter(type(value)).dump_python(value, mode="json")
