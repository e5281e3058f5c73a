"""The Markdown view, for pull-request comments and incident documents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infermedic.report.terminal import describe_location, format_cell


def render_markdown(data: Mapping[str, Any]) -> str:
    """One engine's report; a diagnosis has its own layout (`incident.py`, which builds on
    the helpers here)."""
    tool = data["tool"]
    lines = [f"# infermedic {tool['command']} report", ""]
    if data.get("headline"):
        lines.extend([f"**{escape_md(data['headline'])}**", ""])
    lines.append(f"- version: `{tool['version']}`")
    if data.get("inputs"):
        lines.append("- inputs: " + ", ".join(f"`{i}`" for i in data["inputs"]))
    if data.get("started_at"):
        lines.append(f"- started: {data['started_at']}")
    summary = data["summary"]
    lines.append(f"- findings: {summary['findings']}" + _by_severity(summary))
    lines.append("")
    for table in data.get("tables", []):
        lines += [f"## {table['title']}", ""]
        lines += markdown_table(table["columns"], table["rows"])
        lines.append("")
    lines += findings_section(data.get("findings", []))
    notes = data.get("notifications", [])
    if notes:
        lines += ["## Notifications", ""]
        for note in notes:
            where = " ".join(f"`{p}`" for p in (note.get("rule"), note.get("path")) if p)
            lines.append(f"- **{note['level']}** {where} {escape_md(note['message'])}".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def findings_section(findings: Sequence[Mapping[str, Any]], level: int = 2) -> list[str]:
    hashes = "#" * level
    if not findings:
        return [f"{hashes} Findings", "", "No findings.", ""]
    lines = [f"{hashes} Findings", ""]
    rows = [
        (
            f["severity"],
            f"`{f['code']}` {f['name']}",
            describe_location(f["location"]),
            f["message"],
        )
        for f in findings
    ]
    lines += markdown_table(("severity", "rule", "where", "message"), rows)
    lines.append("")
    for finding in findings:
        where = describe_location(finding["location"])
        lines += [
            f"{hashes}# {finding['code']} {finding['name']} — `{where}`",
            "",
            escape_md(finding["message"]),
            "",
        ]
        if finding.get("checklist"):
            lines.append("Checklist: " + ", ".join(finding["checklist"]))
            lines.append("")
        if finding.get("evidence"):
            lines.append("Evidence:")
            lines.append("")
            for evidence in finding["evidence"]:
                lines.append(f"- `{_code_span(evidence['action'])}`")
                lines.append(f"  → {escape_md(evidence['observed'])}")
            lines.append("")
        if finding.get("risk"):
            lines += [f"Risk: {escape_md(finding['risk'])}", ""]
        if finding.get("fix"):
            lines += [f"Fix: {escape_md(finding['fix'])}", ""]
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


def _by_severity(summary: Mapping[str, Any]) -> str:
    if not summary["by_severity"]:
        return ""
    return " (" + ", ".join(f"{n} {s}" for s, n in summary["by_severity"].items()) + ")"
