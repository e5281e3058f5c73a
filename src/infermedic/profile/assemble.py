"""Turning the worker's measurements into the report's tables and plots."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from infermedic.model import Plot, Series, Table
from infermedic.profile.cores import AvailableCores
from infermedic.profile.detect import ModelRef
from infermedic.profile.results import (
    BatchSweepResult,
    GpuResult,
    OptionResult,
    ProfileResults,
    Stage,
    StagesResult,
    ThreadsResult,
)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 4)


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def summary_table(ref: ModelRef, results: ProfileResults, cores: AvailableCores) -> Table:
    rows: list[tuple[Any, ...]] = [
        ("model", ref.text),
        ("format", f"{ref.format.value} ({ref.detected_by})"),
    ]
    if ref.size_bytes is not None:
        rows.append(("artifact size", f"{ref.size_bytes} bytes"))
        rows.append(("sha256", ref.sha256))
    load = results.load
    if load is not None:
        rows.append(("type", load.type))
        rows.append(("method", load.method))
        if load.saved_with:
            rows.append(("saved with", _versions(load.saved_with)))
        rows.append(("loaded with", _versions(load.loaded_with)))
        rows.append(("load time (cold, with imports)", f"{load.load_s * 1e3:.1f} ms"))
        if load.warm_load_s is not None:
            rows.append(("load time (libraries imported)", f"{load.warm_load_s * 1e3:.1f} ms"))
        rows.append(("RSS after load", f"{_mib(load.rss_after_bytes)} MiB"))
    rows.append(("cores available", cores.describe()))
    sample = results.input
    if sample is not None:
        rows.append(("input", f"{sample.rows} rows, {sample.source}: {sample.description}"))
    first = results.first_call
    if first is not None:
        rows.append(("first call (batch 1)", f"{first.first_s * 1e3:.3f} ms"))
        rows.append(("second call (batch 1)", f"{first.second_s * 1e3:.3f} ms"))
    memory = results.memory
    if memory is not None:
        rows.append(
            (
                "heap growth over identical calls",
                f"{memory.growth_bytes} bytes over {memory.calls} calls at batch "
                f"{memory.batch} (RSS {_mib(memory.rss_start_bytes)} -> "
                f"{_mib(memory.rss_end_bytes)} MiB)",
            )
        )
    gc_result = results.gc
    if gc_result is not None:
        rows.append(
            (
                "GC during calls",
                f"collections {list(gc_result.collections)}, pauses "
                f"{gc_result.pause_s * 1e3:.2f} ms in {gc_result.calls} calls "
                f"({gc_result.pause_share:.1%})",
            )
        )
    determinism = results.determinism
    if determinism is not None:
        rows.append(
            (
                "same input twice",
                f"max abs diff {determinism.max_abs_diff:.3g}, label agreement "
                f"{determinism.label_agreement:.1%} (batch {determinism.batch})",
            )
        )
    return Table(title="Model", columns=("measure", "value"), rows=tuple(rows), key="summary")


def _versions(versions: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))


def batch_table(sweep: BatchSweepResult) -> Table:
    rows = tuple(
        (
            cell.batch,
            _ms(cell.timing.median_s),
            _ms(cell.timing.iqr_s),
            cell.timing.calls,
            round(cell.rows_per_s or 0.0, 1),
            round(cell.peak_alloc_bytes / 1024, 1),
            "recommended" if cell.batch == sweep.recommended_batch else "",
        )
        for cell in sweep.cells
    )
    return Table(
        title=f"Batch-size sweep (stopped: {sweep.stopped})",
        columns=("batch", "median ms", "IQR ms", "calls", "rows/s", "peak alloc KiB", ""),
        rows=rows,
        key="batch-sweep",
    )


def batch_plots(sweep: BatchSweepResult) -> tuple[Plot, ...]:
    x = tuple(float(c.batch) for c in sweep.cells)
    latency = Plot(
        title="Latency vs batch size",
        kind="line",
        x_label="batch size (rows)",
        y_label="median latency (ms)",
        series=(
            Series(
                name="median",
                x=x,
                y=tuple(float(_ms(c.timing.median_s) or 0.0) for c in sweep.cells),
            ),
            Series(
                name="75th percentile of blocks",
                x=x,
                y=tuple(float(_ms(c.timing.q3_s) or 0.0) for c in sweep.cells),
            ),
        ),
        key="latency-vs-batch",
        # batch sizes and their times span decades (1 ... 512 rows): both axes are log
        x_scale="log",
        y_scale="log",
    )
    throughput = Plot(
        title="Throughput vs batch size",
        kind="line",
        x_label="batch size (rows)",
        y_label="rows per second",
        series=(
            Series(
                name="rows/s",
                x=x,
                y=tuple(float(c.rows_per_s or 0.0) for c in sweep.cells),
            ),
        ),
        key="throughput-vs-batch",
        # batch sizes and their times span decades (1 ... 512 rows): both axes are log
        x_scale="log",
        y_scale="log",
    )
    return latency, throughput


def stage_table(stages: StagesResult) -> Table:
    rows: list[tuple[Any, ...]] = []
    for entry in stages.batches:
        total = entry.total_s
        for stage in entry.stages:
            timing = stage.timing
            rows.append(
                (
                    entry.batch,
                    stage.name,
                    stage.role,
                    _ms(timing.median_s),
                    _ms(timing.iqr_s),
                    timing.calls,
                    f"{timing.median_s / total:.0%}" if total > 0 else "",
                    stage.how or "timed",
                    _where(stage),
                )
            )
        rows.append(
            (
                entry.batch,
                "(whole call)",
                "",
                _ms(total),
                _ms(entry.call.iqr_s),
                entry.call.calls,
                "",
                "timed",
                None,
            )
        )
    return Table(
        title="Per-stage time",
        columns=(
            "batch",
            "stage",
            "role",
            "median ms",
            "IQR ms",
            "calls",
            "share",
            "measured by",
            "where",
        ),
        rows=tuple(rows),
        key="stages",
    )


def _where(stage: Stage) -> str | None:
    """Where a sampled stage spends its time: its busiest innermost frame, and its call site
    (paths shortened for the table; the JSON keeps them whole)."""
    top = _short_path(stage.top_frames[0].frame) if stage.top_frames else None
    called_at = _short_path(stage.called_at) if stage.called_at else None
    if top and called_at:
        return f"{top}, called at {called_at}"
    return top or called_at


def _short_path(text: str) -> str:
    """Library paths from the package on (`sklearn/ensemble/_forest.py`), the user's own
    relative to the working directory."""
    text = re.sub(r"[^\s(]*[/\\](?:site|dist)-packages[/\\]", "", text)
    cwd = os.getcwd().rstrip("/") + "/"
    return text.replace(cwd, "")


def stage_plot(stages: StagesResult) -> Plot:
    series = [
        Series(
            name=f"batch {entry.batch}",
            x=tuple(s.name for s in entry.stages),
            y=tuple(float(_ms(s.timing.median_s) or 0.0) for s in entry.stages),
        )
        for entry in stages.batches
    ]
    return Plot(
        title="Stage breakdown",
        kind="bar",
        x_label="stage",
        y_label="median time (ms)",
        series=tuple(series),
        key="stages",
    )


def thread_table(threads: ThreadsResult) -> Table:
    batches = [str(b) for b in threads.batches]
    rows = tuple(
        (
            row.dimension,
            row.setting,
            "yes" if row.as_loaded else "",
            *(_ms(row.timings[b].median_s) if b in row.timings else None for b in batches),
        )
        for row in threads.rows
    )
    return Table(
        title=f"Thread settings ({threads.cores} core(s) available)",
        columns=("dimension", "setting", "as loaded", *(f"batch {b} median ms" for b in batches)),
        rows=rows,
        key="threads",
    )


def options_table(options: Sequence[OptionResult]) -> Table:
    rows: list[tuple[Any, ...]] = []
    for option in options:
        if option.status != "measured":
            rows.append((option.name, option.status, None, None, None, None, None, option.reason))
            continue
        parity = option.parity
        rows.extend(
            (
                option.name,
                "measured",
                cell.batch,
                _ms(cell.timing.median_s),
                round(cell.speedup, 2) if cell.speedup else None,
                parity.max_abs_diff if parity else None,
                parity.label_agreement if parity else None,
                option.note or "",
            )
            for cell in option.cells
        )
    return Table(
        title="Measured options (speed-up over the model as loaded, parity on the larger batch)",
        columns=(
            "option",
            "status",
            "batch",
            "median ms",
            "speed-up",
            "max abs diff",
            "label agreement",
            "note",
        ),
        rows=tuple(rows),
        key="options",
    )


def gpu_table(result: GpuResult) -> Table:
    """Each device call split into copies and compute, with throughput and peak memory."""
    rows = tuple(
        (
            cell.batch,
            _ms(cell.h2d_s),
            _ms(cell.compute_s),
            _ms(cell.d2h_s),
            _ms(cell.wall_s),
            f"{cell.transfer_share:.0%}" if cell.transfer_share is not None else None,
            round(cell.rows_per_s) if cell.rows_per_s else None,
            round(cell.peak_bytes / 2**20, 1) if cell.peak_bytes else None,
            cell.reps,
        )
        for cell in result.cells
    )
    memory = result.memory
    busy = result.busy
    parts = [f"on {result.device_name or result.device}"]
    if busy is not None and busy.share is not None:
        parts.append(f"device busy {busy.share:.0%} of wall time")
    if memory is not None and memory.searched:
        oom = memory.first_oom
        parts.append(
            f"largest batch that fits {memory.largest_ok}"
            + (f" (out of memory at {oom})" if oom else f" (stopped by {memory.stopped_by})")
        )
    return Table(
        title="Device calls (" + "; ".join(parts) + ")",
        columns=(
            "batch",
            "host→device ms",
            "compute ms",
            "device→host ms",
            "wall ms",
            "copies share",
            "rows/s",
            "peak MB",
            "calls",
        ),
        rows=rows,
        key="gpu",
    )
