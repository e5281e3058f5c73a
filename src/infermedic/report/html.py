"""The HTML view: one self-contained page (inline CSS and SVG plots, no network, no scripts)."""

from __future__ import annotations

import math

from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from infermedic._version import __version__
from infermedic.model import Report
from infermedic.report.diagnosis_view import LATENCY_COLUMNS, DiagnosisView
from infermedic.report.incident import FIX_HINT
from infermedic.report.jsonfmt import Summary, clean, plot_to_dict
from infermedic.report.svg import plot_to_svg
from infermedic.report.terminal import describe_location, format_cell


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("infermedic.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = table_cell
    env.filters["where"] = describe_location
    env.filters["md"] = inline_markdown
    return env


_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def inline_markdown(text: object) -> Markup:
    """Render one line of Markdown (code spans, emphasis, links) as HTML; raw HTML in the
    text is escaped, never passed through (`html: False`)."""
    return Markup(_MARKDOWN.renderInline(str(text or "")))


def table_cell(value: object) -> str:
    """A cell as the JSON shows it (NaN as none, numpy scalars as numbers), as text."""
    return format_cell(clean(value))


def render_html(
    report: Report,
    *,
    preamble: str = "",
    extra_css: str = "",
    template: str = "report.html.j2",
) -> str:
    """Render a report; `preamble` is trusted HTML placed before the summary (a diagnosis
    puts its incident summary there)."""
    report = report.sorted()
    diagnosis = DiagnosisView.of(report)
    if diagnosis is not None and not preamble:
        preamble = incident_preamble_html(diagnosis)
    # plots are drawn from their JSON form (`svg.py` draws what a saved report holds)
    plots = [Markup(plot_to_svg(plot_to_dict(p))) for p in report.plots if p.size != "small"]
    # small multiples (drift's columns, drifted first) share a grid, in the order given
    multiples = [Markup(plot_to_svg(plot_to_dict(p))) for p in report.plots if p.size == "small"]
    duration = report.duration_s
    page = environment().get_template(template)
    return page.render(
        report=report,
        version=__version__,
        summary=Summary.of(report),
        duration_s=duration if duration is not None and math.isfinite(duration) else None,
        plots=plots,
        multiples=multiples,
        preamble=Markup(preamble),
        extra_css=Markup(extra_css),
    )


def incident_preamble_html(diagnosis: DiagnosisView) -> str:
    """A diagnosis' summary, root cause, solution and prevention, for the top of the page."""
    page = environment().get_template("incident.html.j2")
    return page.render(d=diagnosis, latency_columns=LATENCY_COLUMNS, fix_hint=FIX_HINT)
