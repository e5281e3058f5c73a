"""`infermedic monitoring DIR`: write the Grafana dashboard and Prometheus alert rules."""

from __future__ import annotations

from pathlib import Path

import click

from infermedic.cli.output import write_atomically
from infermedic.errors import InputError
from infermedic.instrument.monitoring import (
    ALERTS_FILE,
    DASHBOARD_FILE,
    alert_names,
    alert_rules,
    grafana_dashboard,
    valid_job,
)


@click.command("monitoring")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--job",
    default="inference",
    show_envvar=True,
    help="The Prometheus scrape job of the service (the heartbeat alerts use it).",
)
@click.option("--overwrite", is_flag=True, help="Replace files already in DIRECTORY.")
def monitoring(directory: Path, job: str, overwrite: bool) -> None:
    """Write a Grafana dashboard and Prometheus alert rules for an instrumented service.

    The service must be wrapped with `infermedic.instrument.instrument()`; the files use
    the metric names it exports. Import the JSON in Grafana (Dashboards > Import) and add
    the YAML to `rule_files:` in prometheus.yml.
    """
    if not valid_job(job):
        raise click.UsageError(
            f"--job {job!r} is not a usable Prometheus job name (letters, digits, _ . : / -)"
        )
    files = {DASHBOARD_FILE: grafana_dashboard(), ALERTS_FILE: alert_rules(job)}
    existing = [name for name in files if (directory / name).exists()]
    if existing and not overwrite:
        raise InputError(
            f"{directory / existing[0]} already exists",
            hint="pass --overwrite to replace it, or choose another directory",
        )
    for name, text in files.items():
        write_atomically(
            directory / name,
            text,
            hint="choose another DIRECTORY, or free space / write access there",
        )
        click.echo(f"wrote {directory / name}")
    click.echo(f"alerts: {', '.join(alert_names())}")
