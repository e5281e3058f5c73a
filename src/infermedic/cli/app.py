"""The `infermedic` command group: a thin layer that turns flags into library calls.

Subcommands live one per module in this package and are imported only when used, so
`infermedic --help` and `infermedic rules` start fast.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from infermedic._version import __version__
from infermedic.cli.exit_codes import ExitCode
from infermedic.errors import InfermedicError
from infermedic.model import Severity

# name -> (module, attribute, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "audit": ("infermedic.cli.audit_cmd", "audit", "Static diagnosis of a serving repo."),
    "probe": ("infermedic.cli.probe_cmd", "probe", "Live diagnosis of a running service."),
    "drift": ("infermedic.cli.drift_cmd", "drift", "Data and prediction drift."),
    "profile": ("infermedic.cli.profile_cmd", "profile", "Where a model's time and memory go."),
    "diagnose": ("infermedic.cli.diagnose_cmd", "diagnose", "From a symptom to a root cause."),
    "demo": ("infermedic.cli.demo_cmd", "demo", "Run the whole product on demo services."),
    "fix": ("infermedic.cli.fix_cmd", "fix", "Propose or apply verified fixes for findings."),
    "monitoring": (
        "infermedic.cli.monitoring_cmd",
        "monitoring",
        "Write a Grafana dashboard and Prometheus alerts for an instrumented service.",
    ),
    "rules": ("infermedic.cli.rules_cmd", "rules", "List the rule catalogue."),
    "explain": ("infermedic.cli.rules_cmd", "explain", "Show one rule's documentation."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command: click.Command = getattr(module, entry[1])
        assign_envvars(command, (cmd_name,))
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in SUBCOMMANDS:
            from infermedic.errors import did_you_mean

            raise click.UsageError(
                f"no such command {name!r}{did_you_mean(name, list(SUBCOMMANDS))}", ctx
            )
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, entry[2]) for name, entry in SUBCOMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={
        "auto_envvar_prefix": "INFERMEDIC",
        "show_default": True,
        "help_option_names": ["-h", "--help"],
    },
)
@click.version_option(__version__, "--version", prog_name="infermedic")
def cli() -> None:
    """Diagnose ML inference services, with evidence for every claim.

    Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it,
    2 usage, configuration or input error, a rule that crashed, or (diagnose) a check
    that failed.
    """


def _long_name(option: click.Option) -> str:
    long_names = [o for o in option.opts if o.startswith("--")]
    return (long_names[0] if long_names else option.opts[0]).lstrip("-")


def envvar_name(path: tuple[str, ...], option: click.Option) -> str:
    """INFERMEDIC_<COMMAND>_<OPTION>: the command path (a group's default subcommand left
    out, as users leave it out) and the option's long name, dashes as underscores."""
    parts = ("INFERMEDIC", *path, _long_name(option))
    return "_".join(p.upper().replace("-", "_") for p in parts)


def assign_envvars(command: click.Command, path: tuple[str, ...]) -> None:
    """Give every option of `command` (and of its subcommands) its environment variable,
    named one way everywhere (click's automatic names follow the Python parameter name,
    `INFERMEDIC_PROFILE_INPUT_PATH`, and the subcommand a user leaves out,
    `INFERMEDIC_DRIFT_COMPARE_SELECT`). The common options also read INFERMEDIC_<OPTION>."""
    if getattr(command, "_infermedic_envvars", None) == path:
        return
    command._infermedic_envvars = path  # type: ignore[attr-defined]
    for param in command.params:
        if not isinstance(param, click.Option) or not param.expose_value:
            continue
        name = envvar_name(path, param)
        shared = envvar_name((), param)
        # The common report options (declared with INFERMEDIC_<OPTION>) and the rule
        # selection keep the shared name as a fallback; another command's --output does not.
        if param.envvar == shared or (
            _long_name(param) in {"select", "ignore"} and param.envvar != name
        ):
            param.envvar = [name, shared]
        else:
            param.envvar = name
        param.show_envvar = True
    if isinstance(command, click.Group):
        default = getattr(command, "default_command", None)
        for sub_name, sub in command.commands.items():
            assign_envvars(sub, path if sub_name == default else (*path, sub_name))


def _quick_exit() -> None:
    """At exit, before the interpreter tears its modules down, move every object still alive
    into the collector's permanent generation (`gc.freeze`), so the final collections skip
    what numpy, pyarrow and the rest built at import: exit 30 -> 13 ms measured with both
    loaded. atexit handlers (and so `weakref.finalize` and temporary-directory cleanup), the
    standard streams' flush and the modules' teardown run as before. What is skipped: an
    object still alive in a reference cycle at exit is not collected, so its `__del__` does
    not run. infermedic leaves none that matters: its files are written in `with` blocks or
    `atomic.write_atomically`, and DuckDB's spill folder goes in `DuckDBEngine.close`.
    Registered at exit only, so a process that calls `main` again and again (tests) keeps
    collecting its garbage as usual until it ends."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)  # once, however often `main` runs in one process


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; an `InfermedicError` becomes one line, a hint and exit code 2."""
    _quick_exit()
    try:
        cli.main(args=argv, prog_name="infermedic", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        import io

        from infermedic.redact import redact_text

        shown = io.StringIO()  # a bad value may be a URL with its password: redact it
        exc.show(file=shown)
        click.echo(redact_text(shown.getvalue()), err=True, nl=False)
        sys.exit(ExitCode.ERROR)
    except InfermedicError as exc:
        from infermedic.redact import redact_text

        click.echo(redact_text(f"error: {exc}"), err=True)
        if exc.hint:
            click.echo(redact_text(f"hint: {exc.hint}"), err=True)
        sys.exit(ExitCode.ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        # the file system refused (an unsearchable working directory, a full disk): one line
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"error: {exc.strerror or exc}{where}", err=True)
        sys.exit(ExitCode.ERROR)
    sys.exit(_last_exit_code())


_exit_code: list[int] = [0]


def set_exit_code(code: int) -> None:
    """Subcommands record their exit code here; `main` exits with it after output is flushed."""
    _exit_code[0] = int(code)


def _last_exit_code() -> int:
    return _exit_code[0]


def common_report_options(func: Any) -> Any:
    """`--format`, `--output`, `--fail-on`, `--exit-zero`: the same meaning in every command."""
    from infermedic.report import OutputFormat

    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice([f.value for f in OutputFormat]),
            default=None,
            envvar="INFERMEDIC_FORMAT",
            show_envvar=True,
            help="Report format [default: terminal, or the --output file's suffix].",
        ),
        click.option(
            "--output",
            "-o",
            type=click.Path(dir_okay=False, writable=True),
            default=None,
            envvar="INFERMEDIC_OUTPUT",
            show_envvar=True,
            help="Write the report to this file (atomically) instead of stdout.",
        ),
        click.option(
            "--fail-on",
            # the choices are Severity's labels, parsed by `Severity.parse` (one parser)
            type=click.Choice([s.label for s in Severity], case_sensitive=False),
            default=None,
            envvar="INFERMEDIC_FAIL_ON",
            show_envvar=True,
            help="Exit 1 when a finding is at or above this severity [default: high].",
        ),
        click.option(
            "--exit-zero",
            is_flag=True,
            default=False,
            envvar="INFERMEDIC_EXIT_ZERO",
            show_envvar=True,
            help="Exit 0 even when findings are at or above --fail-on.",
        ),
        click.option(
            "--config",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            envvar="INFERMEDIC_CONFIG",
            show_envvar=True,
            help="Settings file (pyproject.toml or infermedic.toml) [default: nearest pyproject].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func
