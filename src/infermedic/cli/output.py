"""Writing a rendered report: to stdout or atomically to `--output`, then choosing the exit code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from infermedic import atomic
from infermedic.cli.console import use_color
from infermedic.cli.exit_codes import ExitCode
from infermedic.errors import InputError
from infermedic.model import Report, Severity
from infermedic.report import OutputFormat, render
from infermedic.report.printable import printable

OUTPUT_HINT = "choose another --output path, or free space / write access there"


def write_atomically(path: Path, text: str, *, hint: str = OUTPUT_HINT) -> None:
    """Write `text` to `path` so a reader never sees half a file (temp file, fsync, rename).

    The file gets the mode a plain `open` would give (the umask's, or the replaced file's);
    a read-only file, a directory in the way or an OS error (read-only file system, full
    disk, a parent that is a file) is an `InputError`, never a traceback or a replaced file
    the user protected. `hint` names what the user chose the path with (`--output` unless
    the command says otherwise).
    """
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory", hint=hint)
    try:
        atomic.write_atomically(path, text, mode=_mode_for(path, hint))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}", hint=hint) from exc


def _mode_for(path: Path, hint: str = OUTPUT_HINT) -> int:
    """The replaced file's mode, or what the umask gives a new file; a read-only target is
    refused (even root should not silently replace a file its owner protected)."""
    try:
        existing = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    if not existing & 0o222:
        raise InputError(f"{path} is read-only: not replaced", hint=hint)
    return existing


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
    chosen = by_suffix.get(output.suffix.lower())
    if chosen is None:
        known = ", ".join(by_suffix)
        raise InputError(
            f"--output {output}: cannot tell the report format from "
            f"{output.suffix or 'a name without a suffix'!r}",
            hint=f"use a name ending in {known}, or give --format",
        )
    return chosen


def answer_line(report: Report) -> str:
    """One line that answers: the report's headline, else its most severe finding."""
    if report.headline:
        return printable(report.headline, keep_newlines=False)
    ordered = report.sorted().findings
    if not ordered:
        return f"No findings ({len(report.rules_run)} rule(s) ran)."
    top = ordered[0]
    first = printable(top.message, keep_newlines=False)
    return (
        f"{len(ordered)} finding(s); the most severe: {top.severity.label.upper()} "
        f"{top.code} {first}"
    )


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
    color = output is None and use_color(sys.stdout)
    text = render(report, chosen, color=color)
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        write_atomically(output, text)
        # the answer first, also when the report goes to a file (a user who wrote
        # `--output incident.html` in a terminal would otherwise see no result at all)
        click.echo(answer_line(report), err=True)
        click.echo(f"wrote {chosen.value} report to {output}", err=True)
    if exit_zero:
        return ExitCode.OK
    # A rule that crashed leaves the run incomplete: never "No findings" with exit 0.
    crashed = report.measurements.get("rules_failed") or []
    if crashed:
        click.echo(
            f"error: {report.tool} incomplete: rule(s) {', '.join(map(str, crashed))} failed "
            "with an internal error (see the notifications); exit 2",
            err=True,
        )
        return ExitCode.ERROR
    worst = report.worst()
    return ExitCode.FINDINGS if worst is not None and worst >= fail_on else ExitCode.OK
