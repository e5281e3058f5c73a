"""`infermedic rules` lists the catalogue; `infermedic explain` shows one rule's documentation."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from infermedic.cli.console import console_for
from infermedic.errors import ConfigError
from infermedic.rules import Registry


@click.command("rules")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["terminal", "json", "markdown"]),
    default="terminal",
    show_envvar=True,
    help="How to list the rules.",
)
@click.option(
    "--select",
    default="",
    # its own variable only: INFERMEDIC_SELECT chooses the rules the analyses run, and must
    # not shorten the catalogue a user lists to choose them
    envvar="INFERMEDIC_RULES_SELECT",
    show_envvar=True,
    help="Only rules matching these codes.",
)
def rules(fmt: str, select: str) -> None:
    """List every rule: code, name, severity, checklist item, summary."""
    registry = Registry.default()
    chosen = registry.select([s for s in select.split(",") if s.strip()])
    if fmt == "json":
        data = [
            {
                "code": r.code,
                "name": r.name,
                "severity": r.severity.label,
                "checklist": list(r.checklist),
                "measured": r.measured,
                "summary": r.summary,
            }
            for r in chosen
        ]
        click.echo(json.dumps(data, indent=2))
        return
    if fmt == "markdown":
        from infermedic.docs import index_page

        click.echo(index_page(Registry(tuple(chosen))))
        return
    table = Table(title=f"infermedic rules ({len(chosen)})", title_justify="left")
    for column in ("code", "name", "severity", "checklist", "summary"):
        table.add_column(column, overflow="fold")
    for r in chosen:
        table.add_row(r.code, r.name, r.severity.label, ", ".join(r.checklist), r.summary)
    console_for(sys.stdout).print(table)


@click.command("explain")
@click.argument("query")
def explain(query: str) -> None:
    """Show the documentation of a rule by CODE (SVC001), NAME or checklist item (D-03)."""
    registry = Registry.default()
    matched = registry.resolve(query)
    if not matched:
        raise ConfigError(
            f"no rule matches {query!r}",
            hint="`infermedic rules` lists every code, name and checklist item",
        )
    from infermedic.docs import rule_page

    text = "\n\n---\n\n".join(rule_page(rule) for rule in matched)
    if sys.stdout.isatty():
        Console().print(Markdown(text))
    else:
        click.echo(text)
