"""Output formats. JSON is the contract; every format renders from the same typed `Report`."""

from __future__ import annotations

import enum
from typing import assert_never

from infermedic.model import Report


class OutputFormat(enum.StrEnum):
    TERMINAL = "terminal"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"
    SARIF = "sarif"


def render(report: Report, fmt: OutputFormat, *, color: bool = False) -> str:
    """Render `report` in `fmt`, with every secret redacted (`infermedic.redact`): the report's
    strings before rendering (so no renderer can wrap a secret out of sight) and the rendered
    text after. Imports each renderer lazily: the CLI starts fast."""
    from infermedic.redact import redact_text

    return redact_text(_render(redact_report(report), fmt, color=color))


def redact_report(report: Report) -> Report:
    """`report` with every secret in its strings replaced by `***` (the last line of defence
    behind each engine's own redaction)."""
    from infermedic.redact import redact_data

    redacted: Report = redact_data(report)
    return redacted


def _render(report: Report, fmt: OutputFormat, *, color: bool) -> str:
    match fmt:
        case OutputFormat.JSON:
            from infermedic.report.jsonfmt import dumps, to_dict

            return dumps(to_dict(report))
        case OutputFormat.TERMINAL:
            from infermedic.report.terminal import render_terminal

            return render_terminal(report, color=color)
        case OutputFormat.MARKDOWN:
            from infermedic.report.diagnosis_view import DiagnosisView
            from infermedic.report.incident import render_incident_markdown
            from infermedic.report.markdown import render_markdown

            diagnosis = DiagnosisView.of(report)
            if diagnosis is not None:
                return render_incident_markdown(report, diagnosis)
            return render_markdown(report)
        case OutputFormat.HTML:
            from infermedic.report.html import render_html

            return render_html(report)
        case OutputFormat.SARIF:
            from infermedic.report.sarif import render_sarif

            return render_sarif(report)
        case _:
            assert_never(fmt)
