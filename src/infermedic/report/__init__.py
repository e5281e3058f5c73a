"""Output formats. JSON is the contract; every other format renders from the same dict."""

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
    """Render `report` in `fmt`. Imports each renderer lazily: the CLI starts fast."""
    from infermedic.report.jsonfmt import to_dict

    data = to_dict(report)
    match fmt:
        case OutputFormat.JSON:
            from infermedic.report.jsonfmt import dumps

            return dumps(data)
        case OutputFormat.TERMINAL:
            from infermedic.report.terminal import render_terminal

            return render_terminal(data, color=color)
        case OutputFormat.MARKDOWN:
            from infermedic.report.markdown import render_markdown

            return render_markdown(data)
        case OutputFormat.HTML:
            from infermedic.report.html import render_html

            return render_html(data)
        case OutputFormat.SARIF:
            from infermedic.report.sarif import render_sarif

            return render_sarif(report)
        case _:
            assert_never(fmt)
