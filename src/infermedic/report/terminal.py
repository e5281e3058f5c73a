"""The terminal view: rich tables and panels on a TTY, the same layout as plain text otherwise."""

from __future__ import annotations

import io
import shutil
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Characters a terminal acts on instead of showing: C0 controls (ESC starts colour, cursor and
# title sequences; CR overwrites the line), DEL, C1 controls (0x9b is a one-byte CSI) and the
# bidirectional overrides that reorder what is shown. Data (file and column names, messages
# from the service) can carry any of them; the terminal view shows them as `\x1b`-style escapes.
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F)]
_CONTROLS += [*range(0x2066, 0x206A)]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _CONTROLS}
_ESCAPES_KEEP_LINES = {code: text for code, text in _ESCAPES.items() if chr(code) not in "\n\t"}

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def terminal_width() -> int:
    """The terminal's width in columns (`COLUMNS` first; 110 off a terminal): the one width
    policy of every command (`cli/console.py` builds its consoles on it)."""
    return max(40, shutil.get_terminal_size((110, 24)).columns)


def render_terminal(
    data: Mapping[str, Any], *, color: bool = False, width: int | None = None
) -> str:
    """Render the JSON contract dict for a terminal; `color=False` gives plain text. The width
    is the real terminal's on a TTY (rich measures it), 110 columns otherwise."""
    data = _printable_data(data)
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
    tool = data["tool"]
    console.print(
        Text(f"infermedic {tool['command']} · {tool['version']}", style="bold"),
        Text(" · ".join(data.get("inputs", [])), style="dim"),
    )
    diagnosis = data.get("measurements", {}).get("diagnosis")
    if data.get("headline") and not isinstance(diagnosis, Mapping):  # a diagnosis leads below
        console.print(Text(str(data["headline"]), style="bold"))
    if isinstance(diagnosis, Mapping):
        _print_diagnosis_headline(console, diagnosis)
    for table in data.get("tables", []):
        _print_table(console, table)
    findings = data.get("findings", [])
    if findings:
        console.print()
        console.print(Text(f"Findings ({len(findings)})", style="bold"))
    for finding in findings:
        _print_finding(console, finding)
    notes = data.get("notifications", [])
    if notes:
        console.print()
        console.print(Text(f"Notifications ({len(notes)})", style="bold"))
        for note in notes:
            where = printable(
                " ".join(p for p in (note.get("rule"), note.get("path")) if p), keep_newlines=False
            )
            prefix = f"[{note['level']}] " + (f"{where}: " if where else "")
            console.print(Text(prefix + note["message"]), soft_wrap=False)
    console.print()
    if isinstance(diagnosis, Mapping):
        console.print(Text(str(diagnosis.get("verdict", "")), style="bold"))
    console.print(Text(_summary_line(data), style="bold"))
    return buffer.getvalue()


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """`text` with every terminal control character shown as an escape (`\x1b`, `\x0d`).

    Newlines and tabs are kept for multi-line messages unless `keep_newlines` is False (names
    and locations, which must stay on one line).
    """
    return text.translate(_ESCAPES_KEEP_LINES if keep_newlines else _ESCAPES)


def _printable_data(value: Any) -> Any:
    """Every string in the report dict made printable (the terminal view shows no raw data)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, Mapping):
        return {key: _printable_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable_data(item) for item in value]
    return value


def _print_diagnosis_headline(console: Console, d: Mapping[str, Any]) -> None:
    """The answer first: verdict, root cause with its status, why, top evidence, the fix,
    failed checks, and what was not tested with the input that would test it."""
    console.print()
    console.print(Text(str(d.get("verdict", "")), style="bold"))
    root = d.get("root_cause")
    if isinstance(root, Mapping):
        console.print(Text(f"  why: {root['reason']}"))
        for finding in list(root.get("evidence", []))[:3]:
            where = describe_location(finding["location"])
            console.print(Text(f"  evidence: {finding['code']} at {where}: {finding['message']}"))
        fixes = d.get("solution", {}).get("immediate", [])
        if fixes:
            console.print(Text(f"  fix: {fixes[0]}", style="green"))
        for offer in d.get("fixes", []):
            console.print(
                Text(f"  mechanical fix ({offer['code']}): {offer['command']}", style="green")
            )
    for check in d.get("checks", []):
        if check.get("status") == "failed":
            console.print(Text(f"  FAILED {check['kind']}: {check['reason']}", style="red"))
    untested = [
        h for h in d.get("hypotheses", []) if h.get("status") in ("not tested", "inconclusive")
    ]
    for h in untested[:4]:
        console.print(Text(f"  {h['status']}: {h['title']} — {h['reason']}", style="dim"))
    for host in d.get("host", []):
        if host.get("noisy"):
            console.print(
                Text(f"  busy host during {host['check']}: {host['noisy']}", style="yellow")
            )


def _print_table(console: Console, table: Mapping[str, Any]) -> None:
    # Titles and column names come from data (drift's column names): rich markup is escaped.
    rich_table = Table(title=escape(str(table["title"])), title_justify="left", show_lines=False)
    for column in table["columns"]:
        rich_table.add_column(escape(printable(str(column), keep_newlines=False)), overflow="fold")
    for row in table["rows"]:
        rich_table.add_row(*(escape(format_cell(cell)) for cell in row))
    console.print()
    console.print(rich_table)


def _print_finding(console: Console, finding: Mapping[str, Any]) -> None:
    severity = finding["severity"]
    header = Text()
    header.append(f"{severity.upper():<8} ", style=SEVERITY_STYLE.get(severity, ""))
    header.append(f"{finding['code']} ", style="bold")
    header.append(f"[{finding['name']}] ", style="dim")
    header.append(printable(describe_location(finding["location"]), keep_newlines=False))
    console.print()
    console.print(header)
    console.print(Text("  " + finding["message"]))
    for evidence in finding.get("evidence", []):
        console.print(Text(f"    evidence: {evidence['action']}", style="dim"))
        console.print(Text(f"      → {evidence['observed']}", style="dim"))
    if finding.get("risk"):
        console.print(Text(f"  risk: {finding['risk']}"))
    if finding.get("fix"):
        console.print(Text(f"  fix:  {finding['fix']}", style="green"))


def _summary_line(data: Mapping[str, Any]) -> str:
    summary = data["summary"]
    if not summary["findings"]:
        text = "No findings."
    else:
        parts = ", ".join(f"{n} {sev}" for sev, n in summary["by_severity"].items())
        text = f"{summary['findings']} finding(s): {parts}."
    if summary["notifications"]:
        text += f" {summary['notifications']} notification(s)."
    if data.get("duration_s") is not None:
        text += f" ({data['duration_s']:.2f} s)"
    return text


def describe_location(location: Mapping[str, Any]) -> str:
    """`path:line:col`, `POST /predict http://…`, or `dataset[column]`."""
    if location.get("path"):
        text = str(location["path"])
        if location.get("line"):
            text += f":{location['line']}"
            if location.get("column"):
                text += f":{location['column']}"
        return text
    if location.get("endpoint") or location.get("url"):
        return " ".join(str(location[k]) for k in ("endpoint", "url") if location.get(k))
    if location.get("dataset") or location.get("column_name"):
        base = str(location.get("dataset") or "")
        column = location.get("column_name")
        return f"{base}[{column}]" if column else base
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
