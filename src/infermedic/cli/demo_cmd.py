"""`infermedic demo`: write, serve and load the demo services with planted faults."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from infermedic.demo.repository import write_scenario
from infermedic.demo.scenarios import SCENARIOS, get_scenario, list_scenarios


class _ScenarioChoice(click.Choice):  # type: ignore[type-arg]
    """A scenario name; a mistyped one gets a did-you-mean rather than all thirteen."""

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> object:
        if isinstance(value, str) and value not in SCENARIOS:
            from infermedic.errors import did_you_mean

            self.fail(
                f"no scenario {value!r}{did_you_mean(value, list(SCENARIOS))} "
                "(`infermedic demo list` lists them)",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


_SCENARIO = _ScenarioChoice(list(SCENARIOS))


class DemoGroup(click.Group):
    """Subcommands as usual; a scenario name in the subcommand's place runs the tour on it."""

    default_command = "tour"

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "tour", self.commands["tour"], args
        return super().resolve_command(ctx, args)


WORKDIR_HELP = "Where the scenario repos, logs and reports go."
FIX_HELP = (
    "Then fix each scenario's repo (`infermedic fix --apply --tests`, mode apply-in-dev, in a "
    "scratch git work tree), restart it, diagnose it again and show before/after: root "
    "cause, p99 and throughput under the same load, the regression tests' result."
)


@click.group(cls=DemoGroup, invoke_without_command=True)
@click.option("--all", "run_all", is_flag=True, help="Run every scenario.", show_envvar=True)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("infermedic-demo"),
    show_envvar=True,
    help=WORKDIR_HELP,
)
@click.option("--fix", "do_fix", is_flag=True, help=FIX_HELP)
@click.pass_context
def demo(ctx: click.Context, run_all: bool, workdir: Path, do_fix: bool) -> None:
    """Run infermedic on small real services, each with one planted fault.

    With no subcommand, runs the tour: each scenario is written, served on 127.0.0.1, fed
    traffic, diagnosed from its symptom, and reported. `infermedic demo SCENARIO ...` runs
    it on the scenarios named; `--all` on every one; `--fix` then fixes each, serves and
    diagnoses it again, and compares before and after.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(tour, scenarios=(), run_all=run_all, workdir=workdir, do_fix=do_fix)


@demo.command("tour")
@click.argument("scenarios", nargs=-1, type=_SCENARIO, metavar="[SCENARIO]...")
@click.option("--all", "run_all", is_flag=True, help="Run every scenario.", show_envvar=True)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("infermedic-demo"),
    show_envvar=True,
    help=WORKDIR_HELP,
)
@click.option("--fix", "do_fix", is_flag=True, help=FIX_HELP)
@click.pass_context
def tour(
    ctx: click.Context, scenarios: tuple[str, ...], run_all: bool, workdir: Path, do_fix: bool
) -> None:
    """Diagnose demo scenarios end to end (the default when no subcommand is given)."""
    # `infermedic demo --workdir DIR SCENARIO` puts --workdir on the group: honour it
    parent = ctx.parent.params if ctx.parent is not None else {}
    if ctx.get_parameter_source("workdir") is click.core.ParameterSource.DEFAULT:
        workdir = parent.get("workdir") or workdir
    run_all = run_all or bool(parent.get("run_all"))
    do_fix = do_fix or bool(parent.get("do_fix"))
    import sys

    from infermedic.cli.app import set_exit_code
    from infermedic.cli.console import console_for
    from infermedic.demo.fixing import comparison_table
    from infermedic.demo.runner import run_tour, tour_scenarios, tour_table

    chosen = tour_scenarios(scenarios, everything=run_all)
    console = console_for(sys.stderr)
    console.print(
        f"infermedic demo: {len(chosen)} scenario(s) in {workdir}/ "
        "(each: write, serve on 127.0.0.1, traffic, diagnose, stop)"
    )
    result = run_tour(
        chosen, workdir, progress=lambda message: console.print(message, markup=False), fix=do_fix
    )
    out = console_for(sys.stdout)
    out.print(tour_table(result.outcomes, fix=do_fix))
    for outcome in result.outcomes:
        if outcome.fixed is not None and outcome.fixed.applied:
            out.print(comparison_table(outcome.scenario.name, outcome.fixed))
    correct = sum(o.correct for o in result.outcomes)
    click.echo(
        f"{correct}/{len(result.outcomes)} planted faults diagnosed as planted "
        f"in {result.seconds:.0f} s. HTML report: {result.index_html.resolve()}"
    )
    fixes_failed = [o for o in result.outcomes if o.fixed is not None and not o.fixed_ok]
    if fixes_failed:
        click.echo(
            "fixed but not verified (root cause still there, or a regression test failed): "
            + ", ".join(o.scenario.name for o in fixes_failed)
        )
    if do_fix:
        click.echo(f"timeline (symptom → diagnosis → fix → verify): {workdir / 'ops/audit.jsonl'}")
    set_exit_code(0 if result.all_correct and not fixes_failed else 1)


@demo.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as JSON.")
def list_command(as_json: bool) -> None:
    """List the scenarios, their planted fault and the codes that expose it."""
    scenarios = list_scenarios()
    if as_json:
        click.echo(json.dumps([s.metadata() for s in scenarios], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None)
    table.add_column("scenario", no_wrap=True)
    table.add_column("expected codes", no_wrap=True)
    table.add_column("symptom")
    table.add_column("planted fault")
    for scenario in scenarios:
        codes = ", ".join(scenario.expected_codes) or "none"
        table.add_row(scenario.name, codes, scenario.symptom, scenario.fault)
    Console(soft_wrap=False).print(table)


@demo.command("write")
@click.argument("scenario", type=_SCENARIO, metavar="SCENARIO")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Write into a non-empty directory.")
def write_command(scenario: str, directory: Path, overwrite: bool) -> None:
    """Write SCENARIO as a small repository in DIRECTORY."""
    root = write_scenario(scenario, directory, overwrite=overwrite)
    click.echo(f"wrote {scenario} to {root}")
    click.echo(f"run it: cd {root} && python -m uvicorn app.main:app --port 8000")


@demo.command("models")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace example models already there.")
def models_command(directory: Path, overwrite: bool) -> None:
    """Write the README's example models (model.joblib, scoring.py) into DIRECTORY."""
    from infermedic.demo.models import write_models

    for path in write_models(directory, overwrite=overwrite):
        click.echo(f"wrote {path}")
    click.echo(f"profile them: cd {directory} && infermedic profile model.joblib --quick")


@demo.command("serve")
@click.argument("scenario", type=_SCENARIO, metavar="SCENARIO")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_envvar=True)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    show_envvar=True,
    help="Write the scenario here and keep it [default: a temporary directory].",
)
def serve_command(scenario: str, port: int, directory: Path | None) -> None:
    """Serve SCENARIO on 127.0.0.1 until Ctrl-C or SIGTERM."""
    import signal

    from infermedic.demo.service import running_scenario

    def stop_on_term(signum: int, frame: object) -> None:
        # SIGTERM (`kill`, a process manager) stops the service as Ctrl-C does: its own
        # session does not see the signal, and the default action would leave it running.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    chosen = get_scenario(scenario)
    with running_scenario(chosen, directory, port) as service:
        click.echo(f"{chosen.name} is serving at {service.url} (pid {service.pid})")
        click.echo(f"  predict:        POST {service.endpoint(chosen.predict_path)}")
        click.echo(f"  repository:     {service.directory}")
        click.echo(f"  prediction log: {service.prediction_log_dir}")
        click.echo("Press Ctrl-C (or send SIGTERM) to stop.")
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            click.echo("stopping")


@demo.command("traffic")
@click.argument("scenario", type=_SCENARIO, metavar="SCENARIO")
@click.argument("url")
@click.option("--requests", type=click.IntRange(min=1), default=None, show_envvar=True)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds.",
    show_envvar=True,
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Requests per second [default: as fast as answered].",
    show_envvar=True,
)
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_envvar=True)
@click.option("--seed", type=int, default=0, show_envvar=True)
def traffic_command(
    scenario: str,
    url: str,
    requests: int | None,
    duration: float | None,
    rate: float | None,
    concurrency: int,
    seed: int,
) -> None:
    """Send SCENARIO's production-like requests to the service at URL."""
    from infermedic.demo.traffic import generate_traffic

    result = generate_traffic(
        scenario,
        url,
        requests=requests,
        duration=duration,
        rate=rate,
        concurrency=concurrency,
        seed=seed,
    )
    statuses = ", ".join(f"{code}: {n}" for code, n in result.status_counts.items()) or "none"
    click.echo(
        f"sent {result.sent} requests to {result.url} in {result.duration_s:.1f} s "
        f"({result.throughput_rps:.1f}/s); statuses {statuses}; "
        f"no answer: {result.transport_errors}"
    )
    if result.latencies_s:
        p50, p99 = result.latency_quantile(0.5), result.latency_quantile(0.99)
        click.echo(f"latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    for error in result.first_errors:
        click.echo(f"  error: {error}", err=True)
