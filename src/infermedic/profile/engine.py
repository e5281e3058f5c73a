"""`profile_model`: measure a model in a worker process and report where its time goes."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infermedic.errors import EngineUnavailable, InfermedicError, InputError, ModelLoadError
from infermedic.model import Location, Notification, NotificationLevel, Plot, Report, Table
from infermedic.profile import assemble
from infermedic.profile.config import MeasurePlan, ProfileThresholds, thresholds_from_options
from infermedic.profile.context import ProfileObservations
from infermedic.profile.cores import available_cores
from infermedic.profile.detect import ModelRef, detect_model
from infermedic.profile.results import ProfileResults
from infermedic.profile.rules import MODEL_RULES, unjudged_reason
from infermedic.profile.runner import WorkerOutcome, run_worker
from infermedic.profile.supervise import (
    MIB,
    MemoryLimit,
    default_memory_limit,
    explicit_limit,
)
from infermedic.registry.records import ResolvedModel
from infermedic.runner import run_rules, select_rules
from infermedic.settings import Settings

INPUT_SUFFIXES = (".parquet", ".pq", ".csv", ".jsonl", ".ndjson", ".npy", ".json")

ProgressCallback = Callable[[str, float], None]


class ProfileIncomplete(InfermedicError):
    """The worker did not finish: the model raised, hung past the budget, passed the memory
    limit or died. Raised by callers that need a complete run (diagnose's model check);
    `profile_model` itself returns the partial report, kept here as `report`."""

    def __init__(self, message: str, *, report: Report, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


def raise_if_incomplete(report: Report) -> Report:
    """`report` when its run completed; else `ProfileIncomplete` with the run's errors."""
    status = report.measurements.get("status")
    if status not in {"failed", "partial"}:
        return report
    errors = [n.message for n in report.notifications if n.level is NotificationLevel.ERROR]
    worker = report.measurements.get("worker", {})
    reason = "; ".join(errors) or f"the worker ended during {worker.get('last_phase')}"
    raise ProfileIncomplete(
        f"the model profile did not complete ({status}): {reason}",
        report=report,
        hint="run the profile command shown to see the partial measurements",
    )


def profile_model(
    model_ref: str | os.PathLike[str],
    *,
    input: str | os.PathLike[str] | None = None,  # noqa: A002 - the user-facing name
    plan: MeasurePlan | None = None,
    quick: bool = False,
    paths: Sequence[str | os.PathLike[str]] = (),
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    tracking_uri: str | None = None,
) -> Report:
    """Load `model_ref` in a worker process and measure it; see `infermedic profile --help`.

    Raises `ModelLoadError` when the model cannot be detected or loaded, `InputError` when
    the input cannot be used, `EngineUnavailable` when an optional library is missing. A
    crash, hang or out-of-memory inside the model's calls is reported in the returned
    report (an error notification, with the measurements taken before it).
    """
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    begin = time.monotonic()
    settings = settings or Settings()
    plan = plan or (MeasurePlan.quick() if quick else MeasurePlan())
    thresholds = thresholds_from_options(settings.options_for_engine("profile"))
    resolved = _resolve_registry_uri(os.fspath(model_ref), tracking_uri, settings)
    ref = detect_model(resolved.artifact_path if resolved else os.fspath(model_ref))
    if resolved is not None:  # the report names the URI the user gave, not the cache path
        ref = dataclasses.replace(ref, text=resolved.uri, detected_by="MLmodel (registry)")
    input_path = _check_input(input)
    cores = available_cores()
    cwd = os.getcwd()
    sys_path = [str(Path(p).resolve()) for p in paths] + [cwd]
    job: dict[str, Any] = {
        "format": ref.format.value,
        "path": ref.path,
        "ref": ref.text,
        "sys_path": sys_path,
        "input": str(input_path) if input_path else None,
        "plan": dataclasses.asdict(plan),
        "thresholds": dataclasses.asdict(thresholds),
        "cores": cores.cores,
        # The worker plans its phases to end well inside the budget; the parent kills it at
        # the budget itself. Start-up (imports) takes about a second of it.
        "deadline_s": max(1.0, plan.budget_s * 0.75 - 1.5),
    }
    memory_limit = (
        explicit_limit(plan.memory_limit_mb)
        if plan.memory_limit_mb is not None
        else default_memory_limit()
    )
    outcome = run_worker(
        job, timeout_s=plan.budget_s, memory_limit=memory_limit, progress=progress, cwd=cwd
    )
    _raise_for_setup_failure(outcome, memory_limit)
    results = outcome.results
    notifications = _notifications(outcome, plan, input_path, memory_limit, thresholds)
    action = f"infermedic profile {ref.text}" + (f" --input {input}" if input else "")
    observations = ProfileObservations(
        results=results, thresholds=thresholds, location=Location(path=ref.text), action=action
    )
    judged = run_rules(
        select_rules(MODEL_RULES, settings.select, settings.ignore),
        observations,
        unjudged=unjudged_reason,
    )
    notifications.extend(judged.notifications)
    tables, plots = _tables_and_plots(ref, results, cores)
    if resolved is not None:
        tables = (_registry_table(resolved), *tables)
    status = _status(outcome, judged.rules_failed)
    measurements: dict[str, Any] = {
        "status": status,
        "model": {
            "ref": ref.text,
            "format": ref.format.value,
            "detected_by": ref.detected_by,
            "size_bytes": ref.size_bytes,
            "sha256": ref.sha256,
        },
        "cores": dataclasses.asdict(cores),
        "plan": dataclasses.asdict(plan),
        "thresholds": dataclasses.asdict(thresholds),
        "worker": {
            "wall_s": outcome.wall_s,
            "exit_code": outcome.exit_code,
            "timed_out": outcome.timed_out,
            "last_phase": outcome.last_phase,
            "phase_started_s": outcome.phase_started,
            "memory_limit_bytes": memory_limit.limit_bytes,
            "memory_limit_source": memory_limit.source,
            "memory_exceeded": outcome.memory_exceeded,
            "peak_rss_bytes": outcome.peak_rss_bytes,
            "leftover_processes": outcome.leftover_processes,
        },
        "outputs_valid": not output_problems(results),
        **({"registry": resolved.to_dict()} if resolved is not None else {}),
        "rules_failed": list(judged.rules_failed),
        **results.to_phases(),
    }
    return Report(
        tool="profile",
        findings=judged.findings,
        notifications=tuple(notifications),
        rules_run=judged.rules_run,
        inputs=tuple(x for x in (ref.text, str(input) if input else None) if x),
        tables=tables,
        plots=plots,
        measurements=measurements,
        started_at=started_at,
        duration_s=time.monotonic() - begin,
    )


def _resolve_registry_uri(
    text: str, tracking_uri: str | None, settings: Settings
) -> ResolvedModel | None:
    """A `models:/` or `runs:/` URI resolved and downloaded (to the version-keyed cache);
    None for a path or MODULE:ATTR."""
    from infermedic.registry import is_model_uri, resolve_model_uri

    if not is_model_uri(text):
        return None
    return resolve_model_uri(text, tracking_uri=tracking_uri, settings=settings)


def _registry_table(resolved: ResolvedModel) -> Table:
    """What the registry resolved the URI to: the version measured, and where it came from."""
    rows = [
        ("uri", resolved.uri),
        ("tracking server", resolved.tracking_uri),
        ("registered model", resolved.name or "-"),
        ("version", resolved.version or "-"),
        ("alias", f"@{resolved.alias}" if resolved.alias else "-"),
        ("run", resolved.run_id or "-"),
        ("artifact", resolved.artifact_path + (" (cached)" if resolved.cached else "")),
    ]
    return Table(title="Registry", columns=("field", "value"), rows=tuple(rows), key="registry")


def _check_input(input: str | os.PathLike[str] | None) -> Path | None:  # noqa: A002
    if input is None:
        return None
    path = Path(input).expanduser()
    if not path.is_file():
        raise InputError(f"input {input} does not exist or is not a file")
    if path.suffix.lower() not in INPUT_SUFFIXES:
        raise InputError(
            f"input {input}: unsupported format {path.suffix or '(none)'}",
            hint="give a Parquet, CSV, JSONL or .npy sample, or a JSON request body",
        )
    return path.resolve()


def _raise_for_setup_failure(outcome: WorkerOutcome, memory_limit: MemoryLimit) -> None:
    """Load and input failures end the run: there is nothing to measure."""
    failure = outcome.failure
    if outcome.memory_exceeded and outcome.last_phase in {"start", "load", "input"}:
        what = "reading the input" if outcome.last_phase == "input" else "loading the model"
        error = InputError if outcome.last_phase == "input" else ModelLoadError
        raise error(
            f"{what} exceeded the worker's memory limit of {memory_limit.describe()}",
            hint="give a larger --memory-limit (in MB) if the model needs more",
        )
    if failure is None:
        if outcome.results.load is None and not outcome.timed_out:
            raise ModelLoadError(
                f"the worker process ended while loading the model ({_ending(outcome)})",
                hint=_last_line(outcome.stderr_tail),
            )
        return
    kind = failure.kind
    message = failure.message
    hint = failure.hint
    if failure.phase == "load":
        if kind == "engine-unavailable":
            raise EngineUnavailable(message, hint=hint)
        if kind == "memory":
            raise ModelLoadError("loading the model ran out of memory", hint=hint)
        raise ModelLoadError(f"cannot load the model: {message}", hint=hint)
    if failure.phase == "input":
        raise InputError(f"cannot use the input: {message}", hint=hint)


def _ending(outcome: WorkerOutcome) -> str:
    code = outcome.exit_code
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _last_line(text: str) -> str | None:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else None


def _status(outcome: WorkerOutcome, rules_failed: Sequence[str] = ()) -> str:
    """`complete` only when the worker finished every phase and every rule judged: a rule
    that crashed leaves the run `partial` (exit 2), like a worker cut short."""
    if outcome.results.batch_sweep is None and not (
        outcome.finished and outcome.failure is None and not outcome.memory_exceeded
    ):
        return "failed"
    if outcome.finished and outcome.failure is None and not outcome.memory_exceeded:
        return "partial" if rules_failed else "complete"
    return "partial"


def _notifications(
    outcome: WorkerOutcome,
    plan: MeasurePlan,
    input_path: Path | None,
    memory_limit: MemoryLimit,
    thresholds: ProfileThresholds,
) -> list[Notification]:
    results = outcome.results
    notes: list[Notification] = []
    sample = results.input
    if sample is not None and sample.source == "synthetic":
        notes.append(
            Notification(
                level=NotificationLevel.NOTE,
                message=(
                    f"no --input given: profiled on {sample.rows} synthetic standard-normal "
                    f"rows shaped {sample.description}; timings of data-dependent models "
                    "(trees, early exits) may differ on real rows"
                ),
            )
        )
    if sample is not None and sample.nan_count:
        notes.append(
            Notification(
                level=NotificationLevel.WARNING,
                message=(
                    f"the input holds {sample.nan_count} NaN value(s) in column(s) "
                    f"{', '.join(sample.nan_columns[:10])}; profiled as given"
                ),
                path=str(input_path) if input_path else None,
            )
        )
    first = results.first_call
    if first is not None and first.output_has_nan:
        notes.append(
            Notification(level=NotificationLevel.WARNING, message="the model's output holds NaN")
        )
    notes.extend(_output_notes(results))
    load = results.load
    if load is not None:
        notes.extend(
            Notification(level=NotificationLevel.NOTE, message=f"while loading: {text}")
            for text in load.load_warnings[:5]
        )
    threads = results.threads
    if threads is not None and threads.stopped:
        notes.append(
            Notification(
                level=NotificationLevel.WARNING,
                message=(
                    f"threads: the sweep stopped at {threads.stopped}, with "
                    f"{len(threads.rows)} of {threads.settings} setting(s) timed; a "
                    "setting timed in one pass only is not judged"
                ),
            )
        )
    if threads is not None and threads.rows:
        from infermedic.profile.rules.thread_oversubscription import unjudged_thread_effects

        notes.extend(
            Notification(level=NotificationLevel.NOTE, message=text)
            for text in unjudged_thread_effects(threads, thresholds)
        )
    for phase, phase_notes in (
        ("stages", results.stages.notes if results.stages else ()),
        ("gpu", results.gpu.notes if results.gpu else ()),
    ):
        notes.extend(
            Notification(level=NotificationLevel.NOTE, message=f"{phase}: {text}")
            for text in phase_notes
        )
    notes.extend(
        Notification(level=NotificationLevel(n.level), message=n.message)
        for n in outcome.notes
        if n.level in {"note", "warning", "error"}
    )
    for option in results.measured_options():
        if option.status == "failed":
            notes.append(
                Notification(
                    level=NotificationLevel.WARNING,
                    message=f"option {option.name} not measured: {option.reason}",
                )
            )
        elif option.status == "not-applicable":
            notes.append(
                Notification(
                    level=NotificationLevel.NOTE,
                    message=f"option {option.name} not applicable: {option.reason}",
                )
            )
    failure = outcome.failure
    if outcome.leftover_processes:
        notes.append(
            Notification(
                level=NotificationLevel.NOTE,
                message=(
                    f"{outcome.leftover_processes} process(es) started in the worker (by the "
                    "model or its libraries, e.g. joblib workers) were still running when it "
                    "ended and were killed with it"
                ),
            )
        )
    if outcome.memory_exceeded:
        notes.append(
            Notification(
                level=NotificationLevel.ERROR,
                message=(
                    "the model ran out of memory: the worker exceeded its memory limit of "
                    f"{memory_limit.describe()} "
                    f"during {outcome.last_phase} (resident {outcome.peak_rss_bytes / MIB:.0f} "
                    "MiB with its child processes) and was stopped; measurements taken before "
                    "it are reported. Give a larger --memory-limit if the model needs more"
                ),
            )
        )
    elif failure is not None and failure.kind == "memory":
        notes.append(
            Notification(
                level=NotificationLevel.ERROR,
                message=(
                    f"the model ran out of memory during {failure.phase} (an allocation "
                    f"failed; the worker's limit is {memory_limit.describe()})"
                ),
            )
        )
    elif failure is not None:
        notes.append(
            Notification(
                level=NotificationLevel.ERROR,
                message=f"{failure.phase}: {failure.message}",
            )
        )
    elif outcome.timed_out:
        notes.append(
            Notification(
                level=NotificationLevel.ERROR,
                message=(
                    f"the worker was killed at the {plan.budget_s:g} s budget during "
                    f"{outcome.last_phase}; the model did not finish in time (a hang, or "
                    "raise --budget); measurements taken before it are reported"
                ),
            )
        )
    elif not outcome.finished:
        tail = _last_line(outcome.stderr_tail)
        notes.append(
            Notification(
                level=NotificationLevel.ERROR,
                message=(
                    f"the worker process died during {outcome.last_phase} ({_ending(outcome)})"
                    + (f": {tail}" if tail else "")
                ),
            )
        )
    return notes


def _output_notes(results: ProfileResults) -> list[Notification]:
    """What is wrong with the model's outputs: the first call's and each sweep cell's."""
    first = results.first_call
    notes = [
        Notification(level=NotificationLevel.WARNING, message=f"model output: {text}")
        for text in (first.output_warnings if first else ())
    ]
    problems = output_problems(results)
    if problems:
        notes.append(
            Notification(
                level=NotificationLevel.ERROR,
                message=(
                    f"the model's output is invalid: {'; '.join(problems)}. Rows per second "
                    "across batch sizes compare nothing, so batching (PROF001) is not judged"
                ),
            )
        )
    return notes


def output_problems(results: ProfileResults) -> list[str]:
    """The model's output problems in a few words: wrong values, and batches answered with
    the wrong number of rows (grouped by what came back)."""
    first = results.first_call
    cells = results.batch_sweep.cells if results.batch_sweep else ()
    rows_for: dict[int, int | None] = {
        int(batch): rows for batch, rows in (first.output_rows if first else {}).items()
    }
    # a cell whose output has no rows (not one array) says why in `output_invalid`; one with
    # neither was recorded before cells were checked and is left out
    rows_for.update(
        {c.batch: c.output_rows for c in cells if c.output_rows is not None or c.output_invalid}
    )
    wrong: dict[int | None, list[int]] = {}
    for batch, rows in sorted(rows_for.items()):
        if rows != batch:
            wrong.setdefault(rows, []).append(batch)
    problems = list(first.output_value_problems if first else ())
    method = results.load.method if results.load else "the model"
    if problems:
        wrong.pop(None, None)  # an output that is not an array has no rows: said above
    for rows, batches in wrong.items():
        sizes = ", ".join(str(b) for b in batches[:8]) + (", ..." if len(batches) > 8 else "")
        answer = "one value" if rows is None else f"{rows} output row(s)"
        problems.append(f"{method} returned {answer} for batches of {sizes} row(s)")
    if wrong:
        problems.append("one output per row is expected")
    return problems


def _tables_and_plots(
    ref: ModelRef, results: ProfileResults, cores: Any
) -> tuple[tuple[Table, ...], tuple[Plot, ...]]:
    tables: list[Table] = [assemble.summary_table(ref, results, cores)]
    plots: list[Plot] = []
    if results.batch_sweep is not None:
        tables.append(assemble.batch_table(results.batch_sweep))
        plots.extend(assemble.batch_plots(results.batch_sweep))
    if results.stages is not None:
        tables.append(assemble.stage_table(results.stages))
        plots.append(assemble.stage_plot(results.stages))
    if results.threads is not None and results.threads.rows:
        tables.append(assemble.thread_table(results.threads))
    if results.gpu is not None:
        tables.append(assemble.gpu_table(results.gpu))
    options = results.measured_options()
    if options:
        tables.append(assemble.options_table(options))
    return tuple(tables), tuple(plots)


def default_thresholds() -> ProfileThresholds:
    return ProfileThresholds()
