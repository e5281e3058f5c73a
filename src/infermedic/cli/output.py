"""Writing a rendered report: to stdout or atomically to `--output`, then choosing the exit code."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from infermedic.cli.exit_codes import ExitCode
from infermedic.model import Report, Severity
from infermedic.report import OutputFormat, render


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so a reader never sees half a file (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def default_format(output: Path | None) -> OutputFormat:
    """Terminal on stdout; for `--output`, the format its suffix names (JSON otherwise)."""
    if output is None:
        return OutputFormat.TERMINAL
    by_suffix = {
        ".json": OutputFormat.JSON,
        ".md": OutputFormat.MARKDOWN,
        ".html": OutputFormat.HTML,
        ".sarif": OutputFormat.SARIF,
        ".txt": OutputFormat.TERMINAL,
    }
    return by_suffix.get(output.suffix.lower(), OutputFormat.JSON)


def emit_report(
    report: Report,
    *,
    fmt: OutputFormat | None,
    output: Path | None,
    fail_on: Severity,
    exit_zero: bool = False,
) -> ExitCode:
    """Render and write `report`, and say which exit code the findings call for."""
    chosen = fmt or default_format(output)
    color = output is None and sys.stdout.isatty()
    text = render(report, chosen, color=color)
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        write_atomically(output, text)
        click.echo(f"wrote {chosen.value} report to {output}", err=True)
    if exit_zero:
        return ExitCode.OK
    worst = report.worst()
    return ExitCode.FINDINGS if worst is not None and worst >= fail_on else ExitCode.OK
