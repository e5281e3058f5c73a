"""The terminal view: rich tables and panels on a TTY, the same layout as plain text otherwise."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from infermedic._version import __version__
from infermedic.model import Finding, Location, Report
from infermedic.model import Table as ReportTable
from infermedic.report.diagnosis_view import DiagnosisView
from infermedic.report.jsonfmt import Summary, clean
from infermedic.report.printable import printable, terminal_width

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def render_terminal(report: Report, *, color: bool = False, width: int | None = None) -> str:
    """Render a report for a terminal; `color=False` gives plain text. The width is the real
    terminal's on a TTY (rich measures it), 110 columns otherwise. Every string from the
    report is shown through `printable` (the terminal view shows no raw control character)."""
    report = report.sorted()
    buffer = io.StringIO()
    if width is None:
        width = terminal_width()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        width=width or 110,
        highlight=False,
        emoji=False,
    )
    console.print(
        Text(f"infermedic {printable(report.tool)} · {__version__}", style="bold"),
        Text(" · ".join(printable(i) for i in report.inputs), style="dim"),
    )
    diagnosis = DiagnosisView.of(report)
    if report.headline and diagnosis is None:  # a diagnosis leads below
        console.print(Text(printable(report.headline), style="bold"))
    if diagnosis is not None:
        _print_diagnosis_headline(console, diagnosis)
    for table in report.tables:
        _print_table(console, table)
    if report.findings:
        console.print()
        console.print(Text(f"Findings ({len(report.findings)})", style="bold"))
    for finding in report.findings:
        _print_finding(console, finding)
    notes = report.notifications
    if notes:
        console.print()
        console.print(Text(f"Notifications ({len(notes)})", style="bold"))
        for note in notes:
            where = printable(" ".join(p for p in (note.rule, note.path) if p), keep_newlines=False)
            prefix = f"[{note.level.value}] " + (f"{where}: " if where else "")
            console.print(Text(prefix + printable(note.message)), soft_wrap=False)
    console.print()
    if diagnosis is not None:
        console.print(Text(printable(diagnosis.verdict), style="bold"))
    console.print(Text(_summary_line(report), style="bold"))
    return buffer.getvalue()


def _printable_data(value: Any) -> Any:
    """Every string in a value (a table cell) made printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {key: _printable_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable_data(item) for item in value]
    return value


def _print_diagnosis_headline(console: Console, d: DiagnosisView) -> None:
    """The answer first: verdict, root cause with its status, why, top evidence, the fix,
    failed checks, and what was not tested with the input that would test it."""
    p = printable
    console.print()
    console.print(Text(p(d.verdict), style="bold"))
    root = d.root_cause
    if root is not None:
        console.print(Text(f"  why: {p(root.reason)}"))
        for finding in root.evidence[:3]:
            where = p(describe_location(finding.location))
            console.print(Text(f"  evidence: {p(finding.code)} at {where}: {p(finding.message)}"))
        if d.immediate_fixes:
            console.print(Text(f"  fix: {p(d.immediate_fixes[0])}", style="green"))
        for offer in d.fixes:
            console.print(
                Text(f"  mechanical fix ({p(offer.code)}): {p(offer.command)}", style="green")
            )
    for check in d.checks:
        if check.status == "failed":
            console.print(Text(f"  FAILED {p(check.kind)}: {p(check.reason)}", style="red"))
    for h in d.untested[:4]:
        console.print(Text(f"  {p(h.status)}: {p(h.title)} — {p(h.reason)}", style="dim"))
    for host in d.busy_hosts:
        console.print(Text(f"  busy host during {p(host.check)}: {p(host.noisy)}", style="yellow"))


def _print_table(console: Console, table: ReportTable) -> None:
    # Titles and column names come from data (drift's column names): rich markup is escaped.
    rich_table = Table(
        title=escape(printable(str(table.title))), title_justify="left", show_lines=False
    )
    for column in table.columns:
        rich_table.add_column(escape(printable(str(column), keep_newlines=False)), overflow="fold")
    for row in table.rows:
        rich_table.add_row(*(escape(format_cell(_printable_data(clean(cell)))) for cell in row))
    console.print()
    console.print(rich_table)


def _print_finding(console: Console, finding: Finding) -> None:
    p = printable
    severity = finding.severity.label
    header = Text()
    header.append(f"{severity.upper():<8} ", style=SEVERITY_STYLE.get(severity, ""))
    header.append(f"{p(finding.code)} ", style="bold")
    header.append(f"[{p(finding.name)}] ", style="dim")
    header.append(printable(describe_location(finding.location), keep_newlines=False))
    console.print()
    console.print(header)
    console.print(Text("  " + p(finding.message)))
    for evidence in finding.evidence:
        console.print(Text(f"    evidence: {p(evidence.action)}", style="dim"))
        console.print(Text(f"      → {p(evidence.observed)}", style="dim"))
    if finding.risk:
        console.print(Text(f"  risk: {p(finding.risk)}"))
    if finding.fix:
        console.print(Text(f"  fix:  {p(finding.fix)}", style="green"))


def _summary_line(report: Report) -> str:
    summary = Summary.of(report)
    if not summary.findings:
        text = "No findings."
    else:
        parts = ", ".join(f"{n} {sev}" for sev, n in summary.by_severity.items())
        text = f"{summary.findings} finding(s): {parts}."
    if summary.notifications:
        text += f" {summary.notifications} notification(s)."
    if report.duration_s is not None and math.isfinite(report.duration_s):
        text += f" ({report.duration_s:.2f} s)"
    return text


def describe_location(location: Location) -> str:
    """`path:line:col`, `POST /predict http://…`, or `dataset[column]`."""
    if location.path:
        text = location.path
        if location.line:
            text += f":{location.line}"
            if location.column:
                text += f":{location.column}"
        return text
    if location.endpoint or location.url:
        return " ".join(p for p in (location.endpoint, location.url) if p)
    if location.dataset or location.column_name:
        base = location.dataset or ""
        return f"{base}[{location.column_name}]" if location.column_name else base
    return "-"


def format_cell(value: Any) -> str:
    """A table cell as text: floats to 4 significant digits, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)
