"""The HTML view: one self-contained page (inline CSS and SVG plots, no network, no scripts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from infermedic.report.incident import (
    FIX_HINT,
    LATENCY_COLUMNS,
    is_diagnosis,
    latency_summary,
)
from infermedic.report.svg import plot_to_svg
from infermedic.report.terminal import describe_location, format_cell


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("infermedic.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = format_cell
    env.filters["where"] = describe_location
    env.filters["md"] = inline_markdown
    return env


_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def inline_markdown(text: object) -> Markup:
    """Render one line of Markdown (code spans, emphasis, links) as HTML; raw HTML in the
    text is escaped, never passed through (`html: False`)."""
    return Markup(_MARKDOWN.renderInline(str(text or "")))


def render_html(
    data: Mapping[str, Any],
    *,
    preamble: str = "",
    extra_css: str = "",
    template: str = "report.html.j2",
) -> str:
    """Render the JSON contract dict; `preamble` is trusted HTML placed before the summary
    (diagnose puts its incident summary there)."""
    if is_diagnosis(data) and not preamble:
        preamble = incident_preamble_html(data)
    every = data.get("plots", [])
    plots = [Markup(plot_to_svg(p)) for p in every if p.get("size") != "small"]
    # small multiples (drift's columns, drifted first) share a grid, in the order given
    multiples = [Markup(plot_to_svg(p)) for p in every if p.get("size") == "small"]
    page = environment().get_template(template)
    return page.render(
        data=data,
        plots=plots,
        multiples=multiples,
        preamble=Markup(preamble),
        extra_css=Markup(extra_css),
    )


def incident_preamble_html(data: Mapping[str, Any]) -> str:
    """A diagnosis' summary, root cause, solution and prevention, for the top of the page."""
    page = environment().get_template("incident.html.j2")
    return page.render(
        data=data,
        latency=latency_summary(data),
        latency_columns=LATENCY_COLUMNS,
        fix_hint=FIX_HINT,
    )
