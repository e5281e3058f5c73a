"""`infermedic profile`: a model's time and memory, measured; or a live service's stacks."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import click

from infermedic.cli.app import common_report_options, set_exit_code

# Rough share of a default run each worker phase takes, for the progress bar.
_PHASE_WEIGHTS = {
    "load": 0.10,
    "batch-sweep": 0.25,
    "stages": 0.10,
    "determinism": 0.02,
    "memory": 0.10,
    "gc": 0.05,
    "threads": 0.18,
    "options": 0.20,
}


@click.command("profile")
@click.argument("model", required=False)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    default=None,
    show_envvar=True,
    help="Parquet/CSV/JSONL/.npy sample, or a JSON request body (its decode is timed "
    "too). Default: rows synthesised from the model's signature.",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(file_okay=False),
    show_envvar=True,
    help="Directory put on sys.path for MODULE:ATTR and for pickles of your own classes.",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "predict_proba", "predict", "__call__"]),
    default="auto",
    show_envvar=True,
    help="Which method to call [auto: predict_proba, else predict, else the object].",
)
@click.option(
    "--quick",
    is_flag=True,
    default=False,
    show_envvar=True,
    help="Short cells and a smaller sweep (about 25 s on 2 busy cores).",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=2.0),
    default=None,
    show_envvar=True,
    help="Kill the worker after this many seconds [default: 60, --quick 30].",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=None,
    show_envvar=True,
    help="Largest batch in the sweep [default: 1024, --quick 256].",
)
@click.option(
    "--latency-budget",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    show_envvar=True,
    help="Per-call latency budget in ms; the sweep stops above it.",
)
@click.option(
    "--memory-limit",
    type=click.IntRange(min=64),
    default=None,
    show_envvar=True,
    help="Stop the worker when it and its child processes hold more than this many MB "
    "resident [default: 75% of the available memory, or of the cgroup's headroom].",
)
@click.option(
    "--no-options",
    is_flag=True,
    default=False,
    show_envvar=True,
    help="Skip the measured options (ONNX Runtime, float32, INT8).",
)
@click.option(
    "--device",
    default="auto",
    show_envvar=True,
    help="Also measure torch models on this device: auto (CUDA when present), cpu, cuda[:N].",
)
@click.option(
    "--pid",
    type=int,
    default=None,
    show_envvar=True,
    help="Sample this running Python process with py-spy instead of loading a model.",
)
@click.option(
    "--url",
    default=None,
    show_envvar=True,
    help="With --pid: drive requests at this URL of the service while sampling.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1.0),
    default=10.0,
    show_envvar=True,
    help="With --pid: seconds to sample.",
)
@click.option(
    "--tracking-uri",
    default=None,
    show_envvar=True,
    help="MLflow tracking server for models:/ and runs:/ URIs [default: MLFLOW_TRACKING_URI].",
)
@click.option("--select", multiple=True, show_envvar=True, help="Only these rules (codes).")
@click.option("--ignore", multiple=True, show_envvar=True, help="Skip these rules (codes).")
@common_report_options
def profile(
    model: str | None,
    input_path: str | None,
    paths: tuple[str, ...],
    method: str,
    quick: bool,
    budget: float | None,
    max_batch: int | None,
    latency_budget: float | None,
    memory_limit: int | None,
    no_options: bool,
    device: str,
    pid: int | None,
    url: str | None,
    duration: float,
    tracking_uri: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    fail_on: str | None,
    exit_zero: bool,
    config: str | None,
) -> None:
    """Where MODEL's time and memory go, and what would make it faster, measured.

    MODEL is a scikit-learn estimator or Pipeline (joblib/pickle), an ONNX file, an
    XGBoost/LightGBM model file, TorchScript or torch.export, an MLflow model directory, a
    registry URI (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH: resolved
    against --tracking-uri and downloaded to a cache keyed by version), or MODULE:ATTR (an
    object with predict/predict_proba, a plain callable, a torch nn.Module).
    It is loaded in a separate worker process, killed at --budget (with every process the
    model started) or past --memory-limit; the model's outputs must be one per row (and
    numbers where scores are expected). Exit 2 when the run did not complete or the outputs
    are invalid, with the measurements taken kept in the report. A pickle is code:
    loading one runs it, so only profile artifacts you trust. Torch models are also
    measured on a GPU when CUDA is present (--device).

    With --pid, samples a running service's stacks with py-spy instead and reports where
    request time goes per thread (model compute, preprocessing, serialisation, blocking I/O
    or sleep in the event-loop thread, lock waits).
    """
    from infermedic.cli.exit_codes import ExitCode
    from infermedic.cli.output import emit_report
    from infermedic.model import Severity
    from infermedic.profile.config import MeasurePlan
    from infermedic.report import OutputFormat
    from infermedic.settings import load_settings

    settings = load_settings(Path(config) if config else None).override(
        select=select, ignore=ignore, fail_on=Severity.parse(fail_on) if fail_on else None
    )
    options = settings.options_for_engine("profile")
    if pid is not None:
        from infermedic.profile.live import sample_process

        body = Path(input_path).read_bytes() if input_path else None
        report = sample_process(pid, duration=duration, url=url, body=body, settings=settings)
    else:
        if model is None:
            raise click.UsageError("name a MODEL to profile, or a running process with --pid")
        quick = quick or bool(options.get("quick", False))
        given = {
            "budget_s": budget if budget is not None else options.get("budget-s"),
            "max_batch": max_batch if max_batch is not None else options.get("max-batch"),
            "latency_budget_ms": latency_budget or options.get("latency-budget-ms"),
            "memory_limit_mb": memory_limit,
        }
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
            raise click.BadParameter(
                f"{device!r} is not auto, cpu, cuda or cuda:N", param_hint="--device"
            )
        overrides: dict[str, Any] = {
            "method": method,
            "try_options": not no_options,
            "device": device,
        }
        overrides.update({key: value for key, value in given.items() if value is not None})
        plan = MeasurePlan.quick(**overrides) if quick else MeasurePlan(**overrides)
        report = _run_with_progress(model, input_path, plan, paths, settings, tracking_uri)
    code = emit_report(
        report,
        fmt=OutputFormat(fmt) if fmt else None,
        output=Path(output) if output else None,
        fail_on=settings.fail_on,
        exit_zero=exit_zero,
    )
    # A crash, hang or OOM inside the model leaves the run incomplete, and outputs that are
    # not one per row (or not numbers) leave it unjudged: exit 2, report kept.
    failed = report.measurements.get("status") in {"failed", "partial"}
    failed = failed or report.measurements.get("outputs_valid") is False
    set_exit_code(ExitCode.ERROR if failed and not exit_zero else code)


def _run_with_progress(
    model: str,
    input_path: str | None,
    plan: Any,
    paths: tuple[str, ...],
    settings: Any,
    tracking_uri: str | None = None,
) -> Any:
    """A rich progress bar on a TTY (stderr); quiet otherwise."""
    from infermedic.profile import profile_model

    def run(progress: Any = None) -> Any:
        return profile_model(
            model,
            input=input_path,
            plan=plan,
            paths=paths,
            settings=settings,
            progress=progress,
            tracking_uri=tracking_uri,
        )

    if not sys.stderr.isatty():
        return run()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]profile[/bold] {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("loading", total=1.0)
        order = list(_PHASE_WEIGHTS)

        def progress(phase: str, fraction: float) -> None:
            done = (
                sum(_PHASE_WEIGHTS[p] for p in order[: order.index(phase)])
                if phase in order
                else 0.0
            )
            done += _PHASE_WEIGHTS.get(phase, 0.0) * fraction
            bar.update(task, description=phase, completed=min(done, 1.0))

        return run(progress)
