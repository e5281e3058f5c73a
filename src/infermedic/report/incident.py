"""The incident layout of a diagnosis, in Markdown and HTML, rendered from the JSON contract.

Issue summary · root-cause analysis · findings (infrastructure, model, data) · root cause ·
solution · prevention · checks run. Everything here comes from the diagnosis the report holds
(`DiagnosisView`, read once from the JSON contract) and the report's findings, so no view shows
what the JSON lacks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from infermedic.model import Finding, Report
from infermedic.report.diagnosis_view import LATENCY_COLUMNS, DiagnosisView
from infermedic.report.markdown import escape_md, findings_section, markdown_table
from infermedic.report.terminal import describe_location

INFRA_PREFIXES = ("LIVE", "DKR", "K8S", "SVC", "XPL", "PKG", "REP")
MODEL_PREFIXES = ("PROF",)
DATA_PREFIXES = ("DRIFT", "MON")
# how to use the `infermedic fix` commands a diagnosis offers
FIX_HINT = (
    "`infermedic fix` shows the diff; add `--apply --tests` to write it and a regression test"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class FindingGroups:
    """A diagnosis's findings by the component they are about."""

    infrastructure: tuple[Finding, ...]
    model: tuple[Finding, ...]
    data: tuple[Finding, ...]

    @classmethod
    def of(cls, findings: Sequence[Finding]) -> FindingGroups:
        groups: dict[str, list[Finding]] = {"infrastructure": [], "model": [], "data": []}
        for f in findings:
            if f.code.startswith(DATA_PREFIXES):
                groups["data"].append(f)
            elif f.code.startswith(MODEL_PREFIXES) or f.code in ("LIVE006", "LIVE007"):
                groups["model"].append(f)
            else:
                groups["infrastructure"].append(f)
        return cls(**{name: tuple(members) for name, members in groups.items()})


def render_incident_markdown(report: Report, d: DiagnosisView) -> str:
    """The incident document of `report`, the diagnosis `d` holds."""
    return "\n".join(_markdown_lines(report.sorted(), d)).rstrip() + "\n"


def _markdown_lines(report: Report, d: DiagnosisView) -> Iterator[str]:
    root = d.root_cause
    yield f"# Incident diagnosis: {escape_md(d.symptom or 'no symptom given')}"
    yield ""
    yield f"**{escape_md(d.verdict)}**"
    yield ""
    yield "## Issue summary"
    yield ""
    yield f"- **Symptom:** {escape_md(d.symptom or '(none: every check the inputs allow)')}"
    yield f"- **Severity:** {d.severity}"
    yield "- **Categories:** " + ", ".join(d.categories)
    yield f"- **Routing:** {escape_md(d.routing)}"
    if report.inputs:
        yield "- **Inputs:** " + ", ".join(f"`{i}`" for i in report.inputs)
    if root:
        yield f"- **Root cause:** {root.title} ({root.component}) — {root.status}"
    else:
        yield "- **Root cause:** none named (see the verdict above and the analysis below)"
    for host in d.busy_hosts:
        yield f"- **Busy host during {host.check}:** {escape_md(host.noisy)}"
    if report.duration_s is not None and math.isfinite(report.duration_s):
        yield f"- **Diagnosis took:** {report.duration_s:.1f} s"
    yield ""
    yield "## Root-cause analysis"
    yield ""
    rows = [
        (
            h.title + ("" if h.in_symptom else " (also found)"),
            h.component,
            h.status + (" (noisy host)" if h.noisy_host else ""),
            ", ".join(sorted({e.code for e in h.evidence})) or "-",
            h.reason,
        )
        for h in d.hypotheses
    ]
    yield from markdown_table(("hypothesis", "component", "status", "evidence", "why"), rows)
    yield ""
    yield "## Findings"
    yield ""
    groups = FindingGroups.of(report.findings)
    yield "### Infrastructure"
    yield ""
    if d.latency is not None:
        yield from markdown_table(LATENCY_COLUMNS, [d.latency.cells()])
        yield ""
    else:
        yield "Latency not measured (give `--url` to run the live checks)."
        yield ""
    yield from _finding_bullets(groups.infrastructure)
    yield "### Model"
    yield ""
    if d.model:
        yield from markdown_table(("what", "value"), d.model)
        yield ""
    yield from _finding_bullets(groups.model)
    yield "### Data"
    yield ""
    yield from _finding_bullets(groups.data, empty="No data findings (or no data given).")
    yield "## Root cause"
    yield ""
    if root:
        yield f"- **Component:** {root.component}"
        yield f"- **Cause:** {root.title}"
        yield f"- **Status:** {root.status} — {escape_md(root.reason)}"
        yield "- **Evidence:**"
        for finding in root.evidence:
            where = describe_location(finding.location)
            yield f"  - `{finding.code}` {finding.name} at `{where}`: "
            yield f"    {escape_md(finding.message)}"
            for evidence in finding.evidence:
                yield f"    - `{_code(evidence.action)}` → {escape_md(evidence.observed)}"
    else:
        yield escape_md(d.verdict)
        if d.untested:
            yield ""
            yield "Not tested or inconclusive (and what would test them):"
            for h in d.untested:
                yield f"- {h.title} ({h.status}): {escape_md(h.reason)}"
    yield ""
    yield "## Solution"
    yield ""
    if d.immediate_fixes:
        yield "**Immediate fix:**"
        yield ""
        for fix in d.immediate_fixes:
            yield f"- {escape_md(fix)}"
        yield ""
    if d.fixes:
        yield f"**Mechanical fix available** ({FIX_HINT}):"
        yield ""
        for offer in d.fixes:
            yield (
                f"- `{_code(offer.command)}` — {offer.code} at `{_code(offer.finding)}`: "
                f"{escape_md(offer.summary)}"
            )
        yield ""
    if d.fixes_note:
        yield f"_{escape_md(d.fixes_note)}_"
        yield ""
    if d.long_term_fix:
        yield f"**Long-term fix:** {escape_md(d.long_term_fix)}"
        yield ""
    if not d.immediate_fixes and not d.long_term_fix:
        yield "Nothing to fix for this symptom."
        yield ""
    yield "## Prevention"
    yield ""
    for item in d.prevention or [
        "keep `infermedic audit` in CI and `infermedic probe` in the deploy gate"
    ]:
        yield f"- [ ] {escape_md(item)}"
    yield ""
    yield "## Checks run"
    yield ""
    yield from markdown_table(
        ("check", "status", "command", "findings", "seconds", "note"),
        [
            (c.kind, c.status, f"`{c.command}`", c.findings, c.duration_s, c.reason or "-")
            for c in d.checks
        ],
    )
    yield ""
    yield from findings_section(report.findings, level=2)
    if report.notifications:
        yield "## Notifications"
        yield ""
        for note in report.notifications:
            yield f"- **{note.level.value}** {escape_md(note.message)}"


def _finding_bullets(findings: Sequence[Finding], empty: str = "No findings.") -> Iterator[str]:
    if not findings:
        yield empty
        yield ""
        return
    for finding in findings:
        where = describe_location(finding.location)
        yield (
            f"- **{finding.severity.label}** `{finding.code}` {finding.name} at `{where}`: "
            f"{escape_md(finding.message)}"
        )
    yield ""


def _code(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")
