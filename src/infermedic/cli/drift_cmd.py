"""`infermedic drift REF CUR`, `drift profile DATA`, `drift profile merge A B ...`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from infermedic.cli.app import common_report_options, set_exit_code


class _DefaultGroup(click.Group):
    """A group that runs `default_command` when the first argument names no subcommand,
    so `drift REF CUR` and `drift profile DATA` both work."""

    default_command = "compare"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def _names(values: tuple[str, ...]) -> tuple[str, ...]:
    """Options may repeat or hold comma-separated names."""
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


def _column_options(
    categorical: tuple[str, ...],
    exclude: tuple[str, ...],
    ids: tuple[str, ...],
    timestamps: tuple[str, ...],
    predictions: tuple[str, ...] = (),
    targets: tuple[str, ...] = (),
) -> Any:
    from infermedic.drift import ColumnOptions

    return ColumnOptions(
        categorical=frozenset(_names(categorical)),
        exclude=frozenset(_names(exclude)),
        ids=frozenset(_names(ids)),
        timestamps=frozenset(_names(timestamps)),
        predictions=_names(predictions),
        targets=_names(targets),
    )


def _column_flags(func: Any) -> Any:
    flags = [
        click.option(
            "--categorical",
            multiple=True,
            show_envvar=True,
            help="Compare these columns as categories (repeat or comma-separate).",
        ),
        click.option("--exclude", multiple=True, show_envvar=True, help="Leave these columns out."),
        click.option(
            "--id",
            "ids",
            multiple=True,
            show_envvar=True,
            help="Identifier columns (left out; request_id, id, uuid are by default).",
        ),
        click.option(
            "--timestamp",
            "timestamps",
            multiple=True,
            show_envvar=True,
            help="Timestamp columns (left out; time, timestamp and time types are by default).",
        ),
    ]
    for flag in reversed(flags):
        func = flag(func)
    return func


def _engine_flags(func: Any) -> Any:
    """`--engine` and the Spark options (the Spark engine is the optional `infermedic[spark]`)."""
    flags = [
        click.option(
            "--engine",
            type=click.Choice(["duckdb", "spark"]),
            default="duckdb",
            show_default=True,
            show_envvar=True,
            help="Profile the data with DuckDB (this machine) or Spark (a cluster, or local mode).",
        ),
        click.option(
            "--spark-master",
            default=None,
            show_envvar=True,
            help="Spark master URL (spark://HOST:7077, yarn, k8s://...) [default: local[*]].",
        ),
        click.option(
            "--spark-remote",
            default=None,
            show_envvar=True,
            help="Spark Connect URL sc://HOST:PORT [default: $SPARK_REMOTE].",
        ),
        click.option(
            "--spark-conf",
            multiple=True,
            show_envvar=True,
            help="Spark setting KEY=VALUE (repeat).",
        ),
        click.option(
            "--spark-job-timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            show_envvar=True,
            help="Cancel a Spark job running longer than this many seconds (Spark waits "
            "forever for lost executors) [default: no limit].",
        ),
    ]
    for flag in reversed(flags):
        func = flag(func)
    return func


def _spark_settings(
    engine: str,
    master: str | None,
    remote: str | None,
    conf: tuple[str, ...],
    job_timeout: float | None,
) -> Any:
    """The Spark settings for `--engine spark`; None for DuckDB (Spark options then refused)."""
    if engine != "spark":
        given = [n for n, v in (("--spark-master", master), ("--spark-remote", remote)) if v]
        if conf:
            given.append("--spark-conf")
        if job_timeout is not None:
            given.append("--spark-job-timeout")
        if given:
            raise click.UsageError(f"{', '.join(given)} need(s) --engine spark")
        return None
    from infermedic.drift.spark import SparkSettings, parse_conf

    return SparkSettings(
        master=master, remote=remote, conf=parse_conf(conf), job_timeout_s=job_timeout
    )


@contextmanager
def _progress() -> Iterator[Callable[[str], None] | None]:
    """A rich spinner on a TTY (stderr); nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]drift[/bold] {task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda what: bar.update(task, description=what)


@click.group(cls=_DefaultGroup, invoke_without_command=False)
def drift() -> None:
    """Data and prediction drift between a reference and current data.

    \b
    infermedic drift REF CUR                      compare (REF: data or a saved profile)
    infermedic drift profile DATA -o ref.profile  save a reference profile
    infermedic drift profile merge A B -o M       merge saved profiles

    REF and CUR are Parquet, CSV or JSONL files, directories or globs (the prediction logs of
    infermedic.instrument included).
    """


@drift.command("compare")
@click.argument("reference")
@click.argument("current")
@click.option(
    "--prediction",
    "predictions",
    multiple=True,
    show_envvar=True,
    help="Model output column(s), reported apart (DRIFT002) [default: `prediction` if present].",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    show_envvar=True,
    help="Target/label column(s), reported apart (DRIFT002).",
)
@_column_flags
@click.option(
    "--alpha",
    type=float,
    default=None,
    show_envvar=True,
    help="Significance level after correction [default: 0.05].",
)
@click.option(
    "--correction",
    type=click.Choice(["bh", "bonferroni"]),
    default=None,
    show_envvar=True,
    help="Multiple-testing correction across all tests [default: bh].",
)
@click.option(
    "--psi-threshold",
    type=float,
    default=None,
    show_envvar=True,
    help="PSI floor for a numeric shift [default: 0.1].",
)
@click.option(
    "--wasserstein-threshold",
    type=float,
    default=None,
    show_envvar=True,
    help="Wasserstein/reference-sd floor for a numeric shift [default: 0.05].",
)
@click.option(
    "--js-threshold",
    type=float,
    default=None,
    show_envvar=True,
    help="Jensen-Shannon floor for a categorical shift [default: 0.05].",
)
@click.option(
    "--missing-rate-threshold",
    type=float,
    default=None,
    show_envvar=True,
    help="Absolute missing-share change floor [default: 0.01].",
)
@click.option(
    "--category-share-threshold",
    type=float,
    default=None,
    show_envvar=True,
    help="Share floor for new or vanished categories [default: 0.005].",
)
@click.option(
    "--out-of-range-threshold",
    type=float,
    default=None,
    show_envvar=True,
    help="Floor for the share of current values outside the reference range [default: 0.01].",
)
@click.option(
    "--exact-ks/--no-exact-ks",
    default=None,
    show_envvar=True,
    help="Exact KS/Wasserstein on raw data (else bounds from ~1000 bins) [default: exact].",
)
@click.option("--select", multiple=True, show_envvar=True, help="Only these rules (codes).")
@click.option("--ignore", multiple=True, show_envvar=True, help="Skip these rules (codes).")
@_engine_flags
@common_report_options
def compare(
    reference: str,
    current: str,
    predictions: tuple[str, ...],
    targets: tuple[str, ...],
    categorical: tuple[str, ...],
    exclude: tuple[str, ...],
    ids: tuple[str, ...],
    timestamps: tuple[str, ...],
    alpha: float | None,
    correction: str | None,
    psi_threshold: float | None,
    wasserstein_threshold: float | None,
    js_threshold: float | None,
    missing_rate_threshold: float | None,
    category_share_threshold: float | None,
    out_of_range_threshold: float | None,
    exact_ks: bool | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    engine: str,
    spark_master: str | None,
    spark_remote: str | None,
    spark_conf: tuple[str, ...],
    spark_job_timeout: float | None,
    fmt: str | None,
    output: str | None,
    fail_on: str | None,
    exit_zero: bool,
    config: str | None,
) -> None:
    """Compare CURRENT with REFERENCE (data or a saved profile) and report drift."""
    from infermedic.cli.output import emit_report
    from infermedic.drift.numpy_start import numpy_for_drift

    with numpy_for_drift():
        from infermedic.drift import DriftOptions
        from infermedic.drift import drift as run_drift
    from infermedic.model import Severity
    from infermedic.report import OutputFormat
    from infermedic.settings import load_settings

    settings = load_settings(Path(config) if config else None).override(
        select=_names(select),
        ignore=_names(ignore),
        fail_on=Severity.parse(fail_on) if fail_on else None,
    )
    options = DriftOptions.from_mapping(settings.options_for_engine("drift")).with_values(
        {
            "alpha": alpha,
            "correction": correction,
            "psi_threshold": psi_threshold,
            "wasserstein_threshold": wasserstein_threshold,
            "js_threshold": js_threshold,
            "missing_rate_threshold": missing_rate_threshold,
            "category_share_threshold": category_share_threshold,
            "out_of_range_threshold": out_of_range_threshold,
            "exact_ks": exact_ks,
        },
        source="command line",
    )
    columns = _column_options(categorical, exclude, ids, timestamps, predictions, targets)
    spark = _spark_settings(engine, spark_master, spark_remote, spark_conf, spark_job_timeout)
    with _progress() as progress:
        if spark is not None:
            from infermedic.drift.spark import drift_on_spark

            report = drift_on_spark(
                reference,
                current,
                spark=spark,
                options=options,
                column_options=columns,
                settings=settings,
                progress=progress,
            )
        else:
            report = run_drift(
                reference,
                current,
                options=options,
                column_options=columns,
                settings=settings,
                progress=progress,
            )
    code = emit_report(
        report,
        fmt=OutputFormat(fmt) if fmt else None,
        output=Path(output) if output else None,
        fail_on=settings.fail_on,
        exit_zero=exit_zero,
    )
    # a DRIFT rule that crashed leaves the comparison incomplete: emit_report exits 2
    set_exit_code(code)


@drift.group("profile", cls=_DefaultGroup)
def profile_group() -> None:
    """Save a drift profile of DATA, or merge saved profiles (`profile merge A B -o M`)."""


profile_group.default_command = "build"  # type: ignore[attr-defined]


@profile_group.command("build")
@click.argument("data")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    show_envvar=True,
    help="Where to write the profile (JSON, versioned).",
)
@click.option(
    "--reference",
    "reference_profile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    show_envvar=True,
    help="Bin on this reference profile's edges (daily current profiles merge exactly then).",
)
@_column_flags
@_engine_flags
def build(
    data: str,
    output: str,
    reference_profile: str | None,
    categorical: tuple[str, ...],
    exclude: tuple[str, ...],
    ids: tuple[str, ...],
    timestamps: tuple[str, ...],
    engine: str,
    spark_master: str | None,
    spark_remote: str | None,
    spark_conf: tuple[str, ...],
    spark_job_timeout: float | None,
) -> None:
    """Profile DATA (file, directory or glob) and write it to --output."""
    from infermedic.drift.numpy_start import numpy_for_drift

    with numpy_for_drift():
        from infermedic.drift import profile_dataset
    from infermedic.drift.profile_file import load_profile, save_profile

    reference = load_profile(Path(reference_profile)) if reference_profile else None
    spark = _spark_settings(engine, spark_master, spark_remote, spark_conf, spark_job_timeout)
    with _progress() as progress:
        if spark is not None:
            from infermedic.drift.spark import profile_dataset_on_spark

            profile, notes = profile_dataset_on_spark(
                data,
                spark=spark,
                column_options=_column_options(categorical, exclude, ids, timestamps),
                reference=reference,
                progress=progress,
            )
        else:
            profile, notes = profile_dataset(
                data,
                column_options=_column_options(categorical, exclude, ids, timestamps),
                reference=reference,
                progress=progress,
            )
    save_profile(profile, Path(output))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    for name, reason in profile.excluded.items():
        click.echo(f"note: column {name!r} not profiled: {reason}", err=True)
    click.echo(
        f"wrote drift profile of {profile.rows} rows x {len(profile.columns)} columns to {output}",
        err=True,
    )
    set_exit_code(0)


@profile_group.command("merge")
@click.argument("profiles", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    show_envvar=True,
    help="Where to write the merged profile.",
)
def merge(profiles: tuple[str, ...], output: str) -> None:
    """Merge saved profiles (partitions, days) into one profile of all their rows."""
    from infermedic.drift import merge_profile_files

    merged = merge_profile_files([Path(p) for p in profiles], Path(output))
    click.echo(f"merged {len(profiles)} profiles ({merged.rows} rows) into {output}", err=True)
    set_exit_code(0)
