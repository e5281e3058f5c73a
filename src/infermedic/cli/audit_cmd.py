"""`infermedic audit PATH...`: static diagnosis of a serving repository."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from infermedic.cli.app import common_report_options, set_exit_code


def _codes(values: tuple[str, ...]) -> tuple[str, ...]:
    """`--select` and `--ignore` may repeat and hold comma-separated codes."""
    return tuple(c.strip() for v in values for c in v.split(",") if c.strip())


@click.command("audit")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--select",
    multiple=True,
    envvar="INFERMEDIC_SELECT",
    show_envvar=True,
    help="Run only these rules: codes, prefixes (SVC), names or checklist items (D-03). "
    "Repeat or comma-separate.",
)
@click.option(
    "--ignore",
    multiple=True,
    envvar="INFERMEDIC_IGNORE",
    show_envvar=True,
    help="Skip these rules (same forms as --select).",
)
@click.option(
    "--exclude",
    multiple=True,
    show_envvar=True,
    help="Skip paths matching these glob patterns (added to `exclude` in the config). "
    "Repeat or comma-separate.",
)
@common_report_options
def audit(
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    exclude: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    fail_on: str | None,
    exit_zero: bool,
    config: str | None,
) -> None:
    """Audit serving code, Dockerfiles, Kubernetes manifests, dependency and monitoring files.

    Suppress a finding with `# infermedic: ignore[CODE]` on its line. Symlinks that point
    outside the given paths are not followed (each is a notification). Exit 2 also when a
    rule fails with an internal error: the report is still written, and names the rule.
    """
    from infermedic.audit import audit as run_audit
    from infermedic.cli.output import emit_report
    from infermedic.model import Severity
    from infermedic.report import OutputFormat
    from infermedic.settings import load_settings

    settings = load_settings(Path(config) if config else None).override(
        select=_codes(select),
        ignore=_codes(ignore),
        fail_on=Severity.parse(fail_on) if fail_on else None,
    )
    if exclude:
        settings = replace(settings, exclude=(*settings.exclude, *_codes(exclude)))
    report = _run_with_progress(run_audit, list(paths), settings)
    code = emit_report(
        report,
        fmt=OutputFormat(fmt) if fmt else None,
        output=Path(output) if output else None,
        fail_on=settings.fail_on,
        exit_zero=exit_zero,
    )
    set_exit_code(code)


def _run_with_progress(run: Any, paths: list[Path], settings: Any) -> Any:
    """A rich progress bar over the Python files on a TTY (stderr); quiet otherwise."""
    if not sys.stderr.isatty():
        return run(paths, settings)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("auditing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, relpath: str) -> None:
            bar.update(task, completed=done, total=total, description=relpath[-40:])

        return run(paths, settings, progress=progress)
