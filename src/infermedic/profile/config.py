"""Profile thresholds and measurement knobs, read from `[tool.infermedic.profile]`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infermedic.errors import ConfigError


@dataclass(frozen=True, kw_only=True, slots=True)
class ProfileThresholds:
    """When a measured effect is large enough to be a finding. Keys in the config file are
    the field names with `-` for `_` (`stage-share = 0.5`)."""

    # PROF001: batching must raise rows/s at least this much over batch 1, within the budget.
    batch_min_gain: float = 2.0
    # Throughput counts as flat once a doubling of the batch gains less than this.
    batch_flat_gain: float = 1.10
    # PROF002: a non-model stage taking this share of the call and at least this long.
    stage_share: float = 0.5
    stage_min_ms: float = 1.0
    # PROF003: another thread or `n_jobs` setting is at least this much faster.
    thread_min_speedup: float = 1.2
    # ... unless other processes used at least this many cores during the sweep and left
    # fewer cores than the setting as loaded has workers (then the host explains it).
    thread_busy_host_cores: float = 0.5
    # PROF004: load slower than this, or a first call this many times (and ms) the steady one.
    load_max_s: float = 5.0
    first_call_ratio: float = 10.0
    first_call_min_extra_ms: float = 100.0
    # PROF005: Python heap growth across identical calls (after warm-up) above both limits.
    memory_growth_min_bytes: int = 1 << 20
    memory_growth_min_bytes_per_call: int = 1024
    # PROF006/PROF007: an option must be this much faster and agree within the parity limits.
    option_min_speedup: float = 1.5
    precision_min_speedup: float = 1.2
    parity_max_abs_diff: float = 1e-4
    quantised_max_abs_diff: float = 0.02
    parity_min_label_agreement: float = 0.999
    # PROF008: outputs for the same input differ by more than this.
    determinism_tolerance: float = 1e-9
    # PROF009: GC pauses take this share of call time, with at least this longest pause.
    gc_pause_share: float = 0.05
    gc_min_pause_ms: float = 1.0
    # PROF011: copies take this share of a device call (and at least this long), or the device
    # runs kernels for less than this share of the call's wall time.
    gpu_transfer_share: float = 0.5
    gpu_transfer_min_ms: float = 0.1
    gpu_min_busy_share: float = 0.3
    # PROF013: the event-loop thread is held by work in at least this share of its samples
    # (the lower end of the 95% interval), over at least this many loop samples.
    loop_busy_share: float = 0.2
    loop_min_samples: int = 100
    # PROF014: this share of worker-thread samples inside request code waits on a lock (the
    # lower end of the 95% interval), over at least this many request samples.
    lock_wait_share: float = 0.3
    lock_min_samples: int = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class MeasurePlan:
    """How long and how widely to measure; `quick()` is the `--quick` plan."""

    budget_s: float = 60.0
    max_batch: int = 1024
    latency_budget_ms: float | None = None
    cell_min_s: float = 0.1  # each timing cell runs at least this long ...
    cell_max_s: float = 0.5  # ... and at most this long, stopping earlier once stable
    memory_calls: int = 300
    memory_time_cap_s: float = 5.0
    gc_window_s: float = 1.0
    try_options: bool = True
    memory_limit_mb: int | None = None
    method: str = "auto"
    # Where torch models are also measured: "auto" (CUDA when present), "cpu" (never), or a
    # torch device such as "cuda" or "cuda:1".
    device: str = "auto"
    try_compile: bool = True

    @classmethod
    def quick(cls, **overrides: Any) -> MeasurePlan:
        base: dict[str, Any] = {
            "budget_s": 30.0,
            "max_batch": 256,
            "cell_min_s": 0.02,
            "cell_max_s": 0.1,
            "memory_calls": 120,
            "memory_time_cap_s": 2.0,
            "gc_window_s": 0.5,
            "try_compile": False,
        }
        base.update(overrides)
        return cls(**base)


def thresholds_from_options(options: Mapping[str, Any]) -> ProfileThresholds:
    """Thresholds from `[tool.infermedic.profile]`; an unknown key is a `ConfigError`."""
    fields = {f.name: f for f in dataclasses.fields(ProfileThresholds)}
    values: dict[str, Any] = {}
    for key, value in options.items():
        name = key.replace("-", "_")
        if name in {"budget_s", "max_batch", "latency_budget_ms", "quick"}:
            continue  # measurement knobs, read by the CLI
        if name not in fields:
            known = ", ".join(sorted(n.replace("_", "-") for n in fields))
            raise ConfigError(
                f"[tool.infermedic.profile]: unknown key {key!r}", hint=f"known keys: {known}"
            )
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"[tool.infermedic.profile]: {key} must be a number")
        values[name] = value
    return ProfileThresholds(**values)
