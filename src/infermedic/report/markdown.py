"""The Markdown view, for pull-request comments and incident documents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infermedic._version import __version__
from infermedic.model import Finding, Report
from infermedic.report.jsonfmt import Summary, clean
from infermedic.report.terminal import describe_location, format_cell


def render_markdown(report: Report) -> str:
    """One engine's report; a diagnosis has its own layout (`incident.py`, which builds on
    the helpers here)."""
    report = report.sorted()
    lines = [f"# infermedic {report.tool} report", ""]
    if report.headline:
        lines.extend([f"**{escape_md(report.headline)}**", ""])
    lines.append(f"- version: `{__version__}`")
    if report.inputs:
        lines.append("- inputs: " + ", ".join(f"`{i}`" for i in report.inputs))
    if report.started_at:
        lines.append(f"- started: {report.started_at}")
    summary = Summary.of(report)
    lines.append(f"- findings: {summary.findings}" + _by_severity(summary))
    lines.append("")
    for table in report.tables:
        lines += [f"## {table.title}", ""]
        lines += markdown_table(table.columns, [clean(list(row)) for row in table.rows])
        lines.append("")
    lines += findings_section(report.findings)
    if report.notifications:
        lines += ["## Notifications", ""]
        for note in report.notifications:
            where = " ".join(f"`{p}`" for p in (note.rule, note.path) if p)
            lines.append(f"- **{note.level.value}** {where} {escape_md(note.message)}".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def findings_section(findings: Sequence[Finding], level: int = 2) -> list[str]:
    hashes = "#" * level
    if not findings:
        return [f"{hashes} Findings", "", "No findings.", ""]
    lines = [f"{hashes} Findings", ""]
    rows = [
        (f.severity.label, f"`{f.code}` {f.name}", describe_location(f.location), f.message)
        for f in findings
    ]
    lines += markdown_table(("severity", "rule", "where", "message"), rows)
    lines.append("")
    for finding in findings:
        where = describe_location(finding.location)
        lines += [
            f"{hashes}# {finding.code} {finding.name} — `{where}`",
            "",
            escape_md(finding.message),
            "",
        ]
        if finding.checklist:
            lines.append("Checklist: " + ", ".join(finding.checklist))
            lines.append("")
        if finding.evidence:
            lines.append("Evidence:")
            lines.append("")
            for evidence in finding.evidence:
                lines.append(f"- `{_code_span(evidence.action)}`")
                lines.append(f"  → {escape_md(evidence.observed)}")
            lines.append("")
        if finding.risk:
            lines += [f"Risk: {escape_md(finding.risk)}", ""]
        if finding.fix:
            lines += [f"Fix: {escape_md(finding.fix)}", ""]
    return lines


def markdown_table(columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    header = "| " + " | ".join(escape_md(str(c)) for c in columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(escape_md(format_cell(c)) for c in row) + " |" for row in rows]
    return [header, rule, *body]


def escape_md(text: str) -> str:
    """Keep table cells on one line and pipes literal."""
    return text.replace("|", "\\|").replace("\n", " ")


def _code_span(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")


def _by_severity(summary: Summary) -> str:
    if not summary.by_severity:
        return ""
    return " (" + ", ".join(f"{n} {s}" for s, n in summary.by_severity.items()) + ")"
