"""`infermedic probe URL`: live diagnosis of a running model service."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from infermedic.cli.app import common_report_options, set_exit_code
from infermedic.errors import ConfigError, InputError


def _read_input(path: str | None) -> tuple[Any, str | None]:
    if path is None:
        return None, None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read --input {path}: {exc.strerror}") from exc
    try:
        return json.loads(text), path
    except ValueError as exc:
        raise InputError(
            f"--input {path} is not JSON: {exc}", hint="give a known-good request body as JSON"
        ) from exc


def _option(options: Mapping[str, Any], key: str, default: float) -> float:
    """A number from `[tool.infermedic.probe]`; anything else is a `ConfigError`."""
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"[tool.infermedic.probe]: {key} must be a number, got {value!r}")
    return float(value)


@click.command()
@click.argument("url")
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    default=None,
    show_envvar=True,
    help="A known-good request body (JSON file).",
)
@click.option(
    "--rate",
    type=float,
    default=None,
    show_envvar=True,
    help="Open-loop request rate, req/s [default: 20].",
)
@click.option(
    "--duration",
    type=float,
    default=None,
    show_envvar=True,
    help="Open-loop load duration, seconds [default: 10].",
)
@click.option(
    "--sweep",
    default=None,
    show_envvar=True,
    help="Closed-loop concurrency steps, e.g. 1,2,4,8,16,32.",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_envvar=True,
    help="Load-generator processes (merge their histograms).",
)
@click.option(
    "--expect-version",
    default=None,
    show_envvar=True,
    help="The model version the service should serve.",
)
@click.option(
    "--api-key",
    default=None,
    show_envvar=True,
    help="API key sent as X-API-Key (never written to any output).",
)
@click.option(
    "--api-key-header", default="X-API-Key", show_envvar=True, help="Header that carries --api-key."
)
@click.option(
    "--bearer", default=None, show_envvar=True, help="Bearer token (never written to any output)."
)
@click.option(
    "--predict-path",
    default=None,
    show_envvar=True,
    help="The prediction route [default: from --repo's routes, else detected (protocol, OpenAPI)].",
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    show_envvar=True,
    help="The service's repository: the prediction route from its code, example bodies from "
    "its tests (read, never run).",
)
@click.option(
    "--health-path", default=None, show_envvar=True, help="The liveness route [default: detected]."
)
@click.option(
    "--model",
    "model_name",
    default=None,
    show_envvar=True,
    help="Model name for Open Inference / TorchServe routes.",
)
@click.option(
    "--checks",
    default=None,
    show_envvar=True,
    help="Subset of checks: contract,load,sweep,blocking,robustness.",
)
@click.option(
    "--pid",
    type=int,
    default=None,
    show_envvar=True,
    help="The service's process id, to sample its memory with psutil.",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    show_envvar=True,
    help="Total deadline of each request (connect, send, whole body), seconds [default: 10].",
)
@click.option(
    "--max-body",
    type=int,
    default=None,
    show_envvar=True,
    help="Largest response body read, bytes; a larger one is an error [default: 1 MiB].",
)
@click.option(
    "--allow-high-load",
    is_flag=True,
    default=False,
    show_envvar=True,
    help="Lift the caps on rate, duration, concurrency and workers.",
)
@click.option(
    "--registry-model",
    default=None,
    show_envvar=True,
    help="NAME[@ALIAS] in the MLflow registry: compare the served version with the one the "
    "alias points to now, and run the registry rules (MON005-MON009) [alias: champion].",
)
@click.option(
    "--tracking-uri",
    default=None,
    show_envvar=True,
    help="MLflow tracking server for --registry-model [default: MLFLOW_TRACKING_URI].",
)
@click.option("--select", multiple=True, show_envvar=True, help="Only these rules (codes).")
@click.option("--ignore", multiple=True, show_envvar=True, help="Skip these rules (codes).")
@common_report_options
def probe(
    url: str,
    input_path: str | None,
    rate: float | None,
    duration: float | None,
    sweep: str | None,
    workers: int,
    expect_version: str | None,
    api_key: str | None,
    api_key_header: str,
    bearer: str | None,
    predict_path: str | None,
    repo: Path | None,
    health_path: str | None,
    model_name: str | None,
    checks: str | None,
    pid: int | None,
    timeout: float | None,
    max_body: int | None,
    allow_high_load: bool,
    registry_model: str | None,
    tracking_uri: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    fail_on: str | None,
    exit_zero: bool,
    config: str | None,
) -> None:
    """Probe the model service at URL: contract, latency under load, event-loop blocking,
    robustness and model version. Traffic goes only to URL's host, bounded in rate and time;
    redirects are never followed, and credentials (--api-key, --bearer, user:password@ in
    URL as HTTP Basic auth) go only to URL's origin.

    Ctrl-C stops at once and still reports what was measured.
    """
    from infermedic.cli.output import emit_report
    from infermedic.model import Severity
    from infermedic.probe import ProbePlan
    from infermedic.probe.engine import plan_thresholds
    from infermedic.probe.engine import probe as run_probe
    from infermedic.probe.plan import DEFAULT_CHECKS, DEFAULT_MAX_BODY, parse_checks, parse_sweep
    from infermedic.probe.repo_hints import repo_hints
    from infermedic.report import OutputFormat
    from infermedic.settings import load_settings

    settings = load_settings(Path(config) if config else None).override(
        select=select, ignore=ignore, fail_on=Severity.parse(fail_on) if fail_on else None
    )
    options = settings.options_for_engine("probe")
    body, source = _read_input(input_path)
    plan = plan_thresholds(
        ProbePlan(
            input_body=body,
            input_source=source,
            rate=rate if rate is not None else _option(options, "rate", 20.0),
            duration_s=duration if duration is not None else _option(options, "duration", 10.0),
            sweep=parse_sweep(sweep) if sweep else (),
            workers=workers,
            expect_version=expect_version,
            api_key=api_key,
            api_key_header=api_key_header,
            bearer=bearer,
            predict_path=predict_path,
            repo_hints=repo_hints(repo, settings) if repo is not None else None,
            health_path=health_path,
            model_name=model_name,
            checks=parse_checks(checks) if checks else DEFAULT_CHECKS,
            allow_high_load=allow_high_load,
            timeout_s=timeout if timeout is not None else _option(options, "timeout", 10.0),
            max_body=max_body
            if max_body is not None
            else int(_option(options, "max-body", DEFAULT_MAX_BODY)),
            pid=pid,
            settings=settings,
        )
    )
    if registry_model is not None:  # an unreachable registry fails before any load is sent
        from infermedic.registry.engine import precheck_registry

        precheck_registry(registry_model, tracking_uri=tracking_uri, settings=settings)
    report = _run_with_progress(run_probe, url, plan)
    if registry_model is not None:
        from infermedic.registry.engine import check_registry, served_from_probe, with_registry

        registry = check_registry(
            registry_model,
            tracking_uri=tracking_uri,
            served=served_from_probe(report),
            repo=repo,
            settings=settings,
        )
        report = with_registry(report, registry)
    code = emit_report(
        report,
        fmt=OutputFormat(fmt) if fmt else None,
        output=Path(output) if output else None,
        fail_on=settings.fail_on,
        exit_zero=exit_zero,
    )
    set_exit_code(code)


def _run_with_progress(run: Any, url: str, plan: Any) -> Any:
    """A live progress line on a terminal (stderr): each check, and while load runs, its
    requests, rate, errors and time left; nothing off a terminal."""
    from infermedic.cli.live_display import live_view

    with live_view("probe") as view:
        return run(url, plan, progress=view.step if view is not None else None)
