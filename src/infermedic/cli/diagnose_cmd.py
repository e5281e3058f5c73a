"""`infermedic diagnose [SYMPTOM]`: from a symptom to a root cause, with evidence."""

from __future__ import annotations

from pathlib import Path

import click

from infermedic.cli.app import common_report_options, set_exit_code
from infermedic.cli.exit_codes import ExitCode
from infermedic.cli.output import emit_report
from infermedic.diagnose.model import Diagnosis
from infermedic.model import Severity
from infermedic.report import OutputFormat
from infermedic.settings import load_settings


@click.command("diagnose")
@click.argument("symptom", required=False, default=None)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    show_envvar=True,
    help="The service's repository, for the static checks.",
)
@click.option("--url", show_envvar=True, help="The running service, for the live checks.")
@click.option("--reference", show_envvar=True, help="Reference data or profile (training).")
@click.option("--current", show_envvar=True, help="Current data (production prediction logs).")
@click.option(
    "--pid",
    type=int,
    show_envvar=True,
    help="The service's process id, to sample its stacks with py-spy.",
)
@click.option(
    "--model-path",
    "model",
    show_envvar=True,
    help="The model artifact (or MODULE:ATTR) the service loads, to measure it offline; "
    "models:/NAME@ALIAS, models:/NAME/VERSION and runs:/RUN_ID/PATH are resolved against "
    "--tracking-uri and downloaded to a cache keyed by version.",
)
@click.option(
    "--registry-model",
    show_envvar=True,
    help="NAME[@ALIAS] in the MLflow registry: compare what serves (--url) with where the "
    "alias points now and since when, and judge the version's runs (MON005-MON009) "
    "[default: the alias of a --model-path models:/NAME@ALIAS].",
)
@click.option(
    "--tracking-uri",
    show_envvar=True,
    help="MLflow tracking server for --registry-model and models:/ URIs "
    "[default: MLFLOW_TRACKING_URI].",
)
@click.option(
    # `--model` names a served model in `probe`; here it was the artifact. Kept, hidden.
    "--model",
    "model_deprecated",
    hidden=True,
    help="Deprecated spelling of --model-path.",
)
@click.option(
    "--model-budget",
    type=click.FloatRange(min=2.0),
    default=30.0,
    show_envvar=True,
    help="Seconds for measuring --model-path (`infermedic profile --quick --budget`).",
)
@click.option(
    "--rate",
    type=float,
    default=20.0,
    show_envvar=True,
    help="Requests per second of the live load checks.",
)
@click.option(
    "--duration", type=float, default=6.0, show_envvar=True, help="Seconds of each live load check."
)
@click.option("--expect-version", show_envvar=True, help="The model version that should serve.")
@click.option("--api-key", show_envvar=True, help="API key for the service (never printed).")
@click.option("--bearer", show_envvar=True, help="Bearer token for the service (never printed).")
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    show_envvar=True,
    help="A known-good request body (JSON).",
)
@click.option(
    "--predict-path",
    show_envvar=True,
    help="The prediction route [default: from --repo's routes, else the OpenAPI document].",
)
@click.option(
    "--health-path",
    show_envvar=True,
    help="The liveness route the blocking check times while predictions load the service "
    "[default: a usual one the service answers: /healthz, /health, /ping...].",
)
@click.option(
    "--prediction",
    multiple=True,
    show_envvar=True,
    help="Prediction column(s) in the data (repeatable).",
)
@click.option(
    "--target", multiple=True, show_envvar=True, help="Target column(s) in the data (repeatable)."
)
@click.option(
    "--select",
    multiple=True,
    envvar="INFERMEDIC_SELECT",
    show_envvar=True,
    help="Judge only these rules in every check: codes, prefixes, names or checklist items "
    "(the same forms as in `audit`). Causes whose rules are left out are 'not tested'.",
)
@click.option(
    "--ignore",
    multiple=True,
    envvar="INFERMEDIC_IGNORE",
    show_envvar=True,
    help="Skip these rules in every check (same forms as --select).",
)
@click.option(
    "--replay",
    type=click.Path(exists=True, path_type=Path),
    show_envvar=True,
    help="Re-judge a saved incident (its observations.json, or the directory holding it) "
    "without touching the service.",
)
@click.option(
    "--save-observations",
    type=click.Path(dir_okay=False, path_type=Path),
    show_envvar=True,
    help="Where to keep what the checks measured, for --replay [default: beside --output, "
    "else ops/incidents/TIME/observations.json].",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("ops/audit.jsonl"),
    show_envvar=True,
    help="Append one JSON line per run here (append-only, fsynced).",
)
@common_report_options
def diagnose(
    symptom: str | None,
    repo: Path | None,
    url: str | None,
    reference: str | None,
    current: str | None,
    pid: int | None,
    model: str | None,
    registry_model: str | None,
    tracking_uri: str | None,
    model_deprecated: str | None,
    model_budget: float,
    rate: float,
    duration: float,
    expect_version: str | None,
    api_key: str | None,
    bearer: str | None,
    input_file: Path | None,
    predict_path: str | None,
    health_path: str | None,
    prediction: tuple[str, ...],
    target: tuple[str, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    replay: Path | None,
    save_observations: Path | None,
    audit_log: Path,
    fmt: str | None,
    output: str | None,
    fail_on: str | None,
    exit_zero: bool,
    config: str | None,
) -> None:
    """Route SYMPTOM (free text, e.g. "p99 latency spikes") to the checks that fit, run them
    on what you give (--repo, --url, --model-path, --reference/--current), rank the causes and name
    the
    root cause with its evidence, fix and prevention. Without a symptom, every check the
    inputs allow runs."""
    from infermedic.diagnose import DiagnoseOptions, audit_log_entry
    from infermedic.diagnose import diagnose as run_diagnose
    from infermedic.diagnose.plan import Inputs
    from infermedic.diagnose.replay import replay as replay_incident
    from infermedic.diagnose.replay import save_observations as save
    from infermedic.diagnose.timeline import append_entry

    if replay is not None:
        replayed = replay_incident(replay)
        _emit(replayed, fmt, output, fail_on, exit_zero, config)
        return
    if model_deprecated is not None:
        click.echo(
            "warning: `diagnose --model` is deprecated (in `probe`, --model is a served model's "
            "name); use --model-path",
            err=True,
        )
        model = model or model_deprecated
    if not any((repo, url, reference, current, model, registry_model)):
        raise click.UsageError(
            "give at least one of --repo, --url, --model-path, --registry-model, or "
            "--reference/--current"
        )
    if registry_model:  # a malformed name is refused before any check runs or is kept
        from infermedic.registry.uri import parse_registry_model

        parse_registry_model(registry_model)
    if (reference is None) != (current is None):
        raise click.UsageError("--reference and --current go together")
    settings = load_settings(Path(config) if config else None).override(
        select=[c.strip() for v in select for c in v.split(",") if c.strip()],
        ignore=[c.strip() for v in ignore for c in v.split(",") if c.strip()],
    )
    body = None
    if input_file is not None:
        from infermedic.jsontext import read

        body = read(input_file, f"--input {input_file}", max_bytes=64 * 1024 * 1024)
    options = DiagnoseOptions(
        rate=rate,
        duration_s=duration,
        expect_version=expect_version,
        api_key=api_key,
        bearer=bearer,
        input_body=body,
        predict_path=predict_path,
        health_path=health_path,
        prediction_columns=prediction,
        target_columns=target,
        model_budget_s=model_budget,
    )
    inputs = Inputs(
        repo=repo,
        url=url,
        reference=reference,
        current=current,
        pid=pid,
        model=model,
        model_input=input_file,
        registry_model=registry_model,
        tracking_uri=tracking_uri,
    )
    from infermedic.cli.live_display import live_view, narrator

    with live_view("diagnose") as view:  # on a terminal only: each check, and live load
        result = run_diagnose(
            symptom,
            inputs,
            settings=settings,
            options=options,
            progress=narrator(view, None),
        )
    append_entry(audit_log, audit_log_entry(result))
    kept = save_observations or _observations_path(output, audit_log, result.started_at)
    save(result, kept)
    click.echo(f"observations kept in {kept} (re-judge with --replay {kept})", err=True)
    _emit(result, fmt, output, fail_on, exit_zero, config, settings_fail_on=settings.fail_on)


def _observations_path(output: str | None, audit_log: Path, started_at: str | None) -> Path:
    if output:
        target = Path(output)
        return target.with_name(target.stem + ".observations.json")
    stamp = (started_at or "run").replace(":", "").replace("+", "")
    return audit_log.parent / "incidents" / stamp / "observations.json"


def _emit(
    result: Diagnosis,
    fmt: str | None,
    output: str | None,
    fail_on: str | None,
    exit_zero: bool,
    config: str | None,
    *,
    settings_fail_on: Severity | None = None,
) -> None:
    if settings_fail_on is None:
        settings_fail_on = load_settings(Path(config) if config else None).fail_on
    code = emit_report(
        result.to_report(),
        fmt=OutputFormat(fmt) if fmt else None,
        output=Path(output) if output else None,
        fail_on=Severity.parse(fail_on) if fail_on else settings_fail_on,
        exit_zero=exit_zero,
    )
    failed = result.failed_checks
    if failed:
        # The report is written (failed checks first), but an answer built without the checks
        # the user asked for is not a clean bill of health: exit 2 with the reason.
        first = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        click.echo(f"error: the {first.kind.value} check failed{more}: {first.reason}", err=True)
        code = ExitCode.ERROR
    set_exit_code(code)
