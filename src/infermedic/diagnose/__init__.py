"""`diagnose`: route a symptom, run the checks the inputs allow, judge the causes, name the root.

Read-only: it reads the repository, sends bounded traffic to the URL the user named, reads the
data, and writes only its report and the audit log.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infermedic.diagnose.host import HostMonitor, service_pids
from infermedic.diagnose.hypotheses import CheckKind
from infermedic.diagnose.measured import ProbeMeasured, ProfileMeasured
from infermedic.diagnose.model import CheckRun, CheckStatus, Diagnosis, solution
from infermedic.diagnose.plan import Inputs, PlannedCheck, plan_checks
from infermedic.diagnose.replay import judge, replay, save_observations
from infermedic.diagnose.router import route
from infermedic.diagnose.timeline import redact
from infermedic.errors import InfermedicError, InputError
from infermedic.model import Notification, NotificationLevel, Report
from infermedic.settings import Settings

__all__ = ["DiagnoseOptions", "Diagnosis", "Inputs", "diagnose", "replay", "save_observations"]

Progress = Callable[[str], None]
SWEEP_STEPS = (1, 2, 4, 8)


@dataclass(frozen=True, kw_only=True)
class DiagnoseOptions:
    """How hard the live checks push, and what the data columns are."""

    rate: float = 20.0
    duration_s: float = 6.0
    expect_version: str | None = None
    api_key: str | None = None
    bearer: str | None = None
    input_body: Any = None
    predict_path: str | None = None  # the prediction route; else the repo's, else OpenAPI's
    health_path: str | None = None  # the liveness route; else a usual one the service answers
    prediction_columns: tuple[str, ...] = ()
    target_columns: tuple[str, ...] = ()
    profile_duration_s: float = 4.0
    model_budget_s: float = 30.0  # as `profile --quick`: its phases fit on 2 busy cores
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from infermedic.probe.plan import check_routes

        # a bad route is the user's input: one line and exit 2, before anything runs
        check_routes(predict_path=self.predict_path, health_path=self.health_path)


def diagnose(
    symptom: str | None,
    inputs: Inputs,
    *,
    settings: Settings | None = None,
    options: DiagnoseOptions | None = None,
    progress: Progress | None = None,
) -> Diagnosis:
    """Diagnose a symptom with what the user gave; never raises for a failing check (it is
    recorded as failed with its reason), only for unusable inputs."""
    settings = settings or Settings()
    options = options or DiagnoseOptions()
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    routed = route(symptom)
    planned = plan_checks(routed.categories, inputs)
    monitor = HostMonitor(service_pids(inputs.url, inputs.pid))
    runs: list[CheckRun] = []
    for check in planned:
        if check.kind is CheckKind.PROFILE and check.runnable and options.input_body is None:
            check = replace(
                check,
                runnable=False,
                reason="sampling the service under load needs a known-good request body: "
                "give --input request.json",
            )
        if not check.runnable:
            runs.append(
                CheckRun(
                    kind=check.kind,
                    status=CheckStatus.SKIPPED,
                    command=_command(check, inputs, options),
                    reason=check.reason,
                )
            )
            continue
        say(f"running {check.kind.value}: {check.reason}")
        earlier = {r.kind: r.report for r in runs if r.report is not None}
        with monitor.window() as host:
            run = _run(check, inputs, settings, options, earlier)
        runs.append(replace(run, host=host[0] if host else None))
    judged = judge(
        symptom,
        runs,
        inputs={
            "repo": str(inputs.repo) if inputs.repo else None,
            "url": redact(inputs.url) if inputs.url else None,
            "reference": inputs.reference,
            "current": inputs.current,
            "pid": inputs.pid,
            "model": inputs.model,
            "registry_model": inputs.registry_target,
            "tracking_uri": redact(inputs.tracking_uri) if inputs.tracking_uri else None,
        },
        started_at=started_at,
        duration_s=round(time.perf_counter() - started, 3),
    )
    return _with_fixes(judged, inputs, settings)


def _with_fixes(diagnosis: Diagnosis, inputs: Inputs, settings: Settings) -> Diagnosis:
    """The diagnosis with the fixes `infermedic fix` verifies for its root cause's findings
    (a dry run on the repo; nothing is written)."""
    from infermedic.fix.offers import available_fixes

    root = diagnosis.root_cause
    if inputs.repo is None or root is None or not root.findings:
        return diagnosis
    try:
        offers, note = available_fixes(Path(inputs.repo), root.findings, settings)
    except Exception as exc:  # noqa: BLE001 - a fixer's bug must not lose the incident
        # every check has run: the diagnosis is kept, only the fix offers are missing
        return replace(
            diagnosis, fixes_note=f"fix offers not computed: {type(exc).__name__}: {exc}"
        )
    return replace(diagnosis, fixes=offers, fixes_note=note)


def _run(
    check: PlannedCheck,
    inputs: Inputs,
    settings: Settings,
    options: DiagnoseOptions,
    earlier: Mapping[CheckKind, Report],
) -> CheckRun:
    command = _command(check, inputs, options)
    started = time.perf_counter()
    try:
        report = RUNNERS[check.kind](check, inputs, settings, options, earlier)
    except InfermedicError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if exc.hint:
            reason += f" (hint: {exc.hint})"
        return CheckRun(
            kind=check.kind,
            status=CheckStatus.FAILED,
            command=command,
            reason=reason,
            duration_s=time.perf_counter() - started,
        )
    except Exception as exc:  # one broken check must not lose the rest of the diagnosis
        return CheckRun(
            kind=check.kind,
            status=CheckStatus.FAILED,
            command=command,
            reason=f"internal error in infermedic (please report it): {type(exc).__name__}: {exc}",
            duration_s=time.perf_counter() - started,
        )
    return CheckRun(
        kind=check.kind,
        status=CheckStatus.RAN,
        command=command,
        reason=check.reason,
        report=report,
        duration_s=time.perf_counter() - started,
    )


def _run_audit(
    check: PlannedCheck,
    inputs: Inputs,
    settings: Settings,
    options: DiagnoseOptions,
    earlier: Mapping[CheckKind, Report],
) -> Report:
    from infermedic.audit import audit

    assert inputs.repo is not None
    return audit([inputs.repo], settings)


def _run_probe(
    check: PlannedCheck,
    inputs: Inputs,
    settings: Settings,
    options: DiagnoseOptions,
    earlier: Mapping[CheckKind, Report],
) -> Report:
    from infermedic.probe import probe
    from infermedic.probe.plan import CheckName, ProbePlan, Thresholds
    from infermedic.probe.repo_hints import repo_hints

    assert inputs.url is not None
    # The repo's route index and test examples: the route when --predict-path is not given,
    # the body when neither --input nor an OpenAPI schema gives one.
    hints = repo_hints(inputs.repo, settings) if inputs.repo is not None else None
    plan = ProbePlan(
        checks=frozenset(CheckName(part) for part in check.probe_parts),
        rate=options.rate,
        duration_s=options.duration_s,
        expect_version=options.expect_version,
        api_key=options.api_key,
        bearer=options.bearer,
        input_body=options.input_body,
        input_source="--input" if options.input_body is not None else None,
        predict_path=options.predict_path,
        health_path=options.health_path,
        repo_hints=hints,
        pid=inputs.pid,
        # a short closed-loop sweep: latency and throughput against concurrency
        sweep=SWEEP_STEPS if "sweep" in check.probe_parts else (),
        sweep_window_s=0.5,
        sweep_max_step_s=2.5,
        settings=settings,
        thresholds=Thresholds.from_options(settings.options_for_engine("probe")),
    ).validated()
    return probe(inputs.url, plan)


def _run_drift(
    check: PlannedCheck,
    inputs: Inputs,
    settings: Settings,
    options: DiagnoseOptions,
    earlier: Mapping[CheckKind, Report],
) -> Report:
    from infermedic.drift import ColumnOptions, DriftOptions, drift

    assert inputs.reference is not None and inputs.current is not None
    return drift(
        inputs.reference,
        inputs.current,
        options=DriftOptions.from_mapping(settings.options_for_engine("drift")),
        column_options=ColumnOptions(
            predictions=options.prediction_columns, targets=options.target_columns
        ),
        settings=settings,
    )


def _run_profile(
    check: PlannedCheck,
    inputs: Inputs,
    settings: Settings,
    options: DiagnoseOptions,
    earlier: Mapping[CheckKind, Report],
) -> Report:
    """py-spy samples the service while a known-good request loads it: where the time goes."""
    import json

    from infermedic.profile import sample_process

    assert inputs.pid is not None and inputs.url is not None
    if options.input_body is None:
        raise InputError(
            "sampling the service under load needs a known-good request body",
            hint="give --input request.json",
        )
    probe_report = earlier.get(CheckKind.PROBE)
    probed = ProbeMeasured.of(probe_report) if probe_report is not None else None
    predict_path = (probed.predict_path if probed is not None else None) or "/predict"
    return sample_process(
        inputs.pid,
        duration=options.profile_duration_s,
        url=inputs.url.rstrip("/") + predict_path,
        body=json.dumps(options.input_body).encode(),
        settings=settings,
    )


def _run_model(
    check: PlannedCheck,
    inputs: Inputs,
    settings: Settings,
    options: DiagnoseOptions,
    earlier: Mapping[CheckKind, Report],
) -> Report:
    """The model artifact measured offline, in a worker process, with the quick plan.

    A service's request body is not always rows the bare model takes (wrappers, envelopes,
    fields the service derives): when the run with the body fails in any way before the
    model answered, rows synthesised from the model's own signature still measure it, and
    the report says so. A run that did not complete (the model raised, hung past the
    budget, passed the memory limit or died) raises `ProfileIncomplete` with its errors, so
    the check is recorded as failed, never as a clean run."""
    from infermedic.errors import EngineUnavailable, ModelLoadError
    from infermedic.profile import (
        MeasurePlan,
        ProfileIncomplete,
        profile_model,
    )

    assert inputs.model is not None
    plan = MeasurePlan.quick(budget_s=options.model_budget_s)
    if inputs.model_input is None:
        return _complete_or_cut(
            profile_model(
                inputs.model, plan=plan, settings=settings, tracking_uri=inputs.tracking_uri
            )
        )
    rejected: str | None
    try:
        report = profile_model(
            inputs.model,
            input=inputs.model_input,
            plan=plan,
            settings=settings,
            tracking_uri=inputs.tracking_uri,
        )
    except (ModelLoadError, EngineUnavailable):
        raise  # the model itself cannot be loaded: synthesised rows would not help
    except Exception as exc:  # any error at all means the body did not fit the bare model
        rejected = f"{type(exc).__name__}: {exc}"
    else:
        rejected = _body_rejected(report)
        if rejected is None:
            return _complete_or_cut(report)
    both = f"--input {inputs.model_input} does not fit the bare model ({rejected})"
    try:
        report = _complete_or_cut(
            profile_model(
                inputs.model, plan=plan, settings=settings, tracking_uri=inputs.tracking_uri
            )
        )
    except ProfileIncomplete as exc:
        message = f"{both}, and on rows synthesised from its signature: {exc}"
        raise ProfileIncomplete(message, report=exc.report, hint=exc.hint) from exc
    except InfermedicError as exc:
        message = f"{both}, and no rows could be synthesised instead: {exc}"
        raise InputError(message, hint=exc.hint) from exc
    note = Notification(
        level=NotificationLevel.WARNING,
        message=f"{both}; it was profiled on rows synthesised from its signature instead",
    )
    return replace(report, notifications=(note, *report.notifications))


def _complete_or_cut(report: Report) -> Report:
    """A complete run, or one the time budget cut after the batch sweep: its phases that ran
    are evidence, and the ones that did not leave their causes "not tested" (the judge reads
    which phases are present). A run the model broke (raised, died, ran out of memory)
    raises `ProfileIncomplete`, a failed check."""
    from infermedic.profile import raise_if_incomplete

    if not ProfileMeasured.of(report).cut_by_budget:
        return raise_if_incomplete(report)
    note = Notification(
        level=NotificationLevel.WARNING,
        message="the model profile was cut by its time budget (raise it with --model-budget, "
        "or run `infermedic profile` alone); the causes its missing phases would show are not "
        "tested",
    )
    return replace(report, notifications=(note, *report.notifications))


def _body_rejected(report: Report) -> str | None:
    """Why the model refused the body's rows, when the run failed at its first call (and
    not by a hang, the memory limit or a crash, which synthesised rows would repeat)."""
    if not ProfileMeasured.of(report).failed_at_first_call:
        return None
    errors = [n.message for n in report.notifications if n.level is NotificationLevel.ERROR]
    return "; ".join(errors) or "the first call failed"


def _run_registry(
    check: PlannedCheck,
    inputs: Inputs,
    settings: Settings,
    options: DiagnoseOptions,
    earlier: Mapping[CheckKind, Report],
) -> Report:
    """What the registry says should serve, against what the probe saw served."""
    from infermedic.registry.engine import check_registry, served_from_probe

    target = inputs.registry_target
    assert target is not None
    return check_registry(
        target,
        tracking_uri=inputs.tracking_uri,
        served=served_from_probe(earlier.get(CheckKind.PROBE)),
        repo=inputs.repo,
        settings=settings,
    )


Runner = Callable[
    [PlannedCheck, Inputs, Settings, DiagnoseOptions, Mapping[CheckKind, Report]], Report
]
RUNNERS: dict[CheckKind, Runner] = {
    CheckKind.AUDIT: _run_audit,
    CheckKind.PROBE: _run_probe,
    CheckKind.DRIFT: _run_drift,
    CheckKind.MODEL: _run_model,
    CheckKind.PROFILE: _run_profile,
    CheckKind.REGISTRY: _run_registry,
}


def _command(check: PlannedCheck, inputs: Inputs, options: DiagnoseOptions) -> str:
    """The check as a command a user can run again by hand (no secrets)."""
    return str(redact(_command_text(check, inputs, options)))


def _command_text(check: PlannedCheck, inputs: Inputs, options: DiagnoseOptions) -> str:
    """The command line, every argument shell-quoted so it can be pasted as it is."""
    q = shlex.quote
    match check.kind:
        case CheckKind.AUDIT:
            return f"infermedic audit {q(str(inputs.repo or 'PATH'))}"
        case CheckKind.PROBE:
            parts = ",".join(check.probe_parts)
            extra = ""
            if options.predict_path:
                extra += f" --predict-path {q(options.predict_path)}"
            if options.health_path:
                extra += f" --health-path {q(options.health_path)}"
            if inputs.repo is not None:
                extra += f" --repo {q(str(inputs.repo))}"
            if inputs.model_input is not None:
                extra += f" --input {q(str(inputs.model_input))}"
            return (
                f"infermedic probe {q(inputs.url or 'URL')} --checks {parts} "
                f"--rate {options.rate:g} --duration {options.duration_s:g}{extra}"
            )
        case CheckKind.DRIFT:
            return f"infermedic drift {q(inputs.reference or 'REF')} {q(inputs.current or 'CUR')}"
        case CheckKind.MODEL:
            given = f" --input {q(str(inputs.model_input))}" if inputs.model_input else ""
            if options.model_budget_s != DiagnoseOptions().model_budget_s:
                given += f" --budget {options.model_budget_s:g}"
            if inputs.tracking_uri:  # redacted: a password in the URI is never shown
                given += f" --tracking-uri {q(redact(inputs.tracking_uri))}"
            return f"infermedic profile {q(inputs.model or 'MODEL')}{given} --quick"
        case CheckKind.PROFILE:
            return (
                f"infermedic profile --pid {inputs.pid or 'PID'} --url {q(inputs.url or 'URL')} "
                f"--duration {options.profile_duration_s:g}"
            )
        case CheckKind.REGISTRY:
            model = q(inputs.registry_target or "NAME@ALIAS")
            server = f" --tracking-uri {q(inputs.tracking_uri)}" if inputs.tracking_uri else ""
            repo = f" --repo {q(str(inputs.repo))}" if inputs.repo is not None else ""
            if inputs.url is None:
                return f"infermedic diagnose --registry-model {model}{server}{repo}"
            return (
                f"infermedic probe {q(inputs.url)} --checks contract --registry-model "
                f"{model}{server}{repo}"
            )


def audit_log_entry(diagnosis: Diagnosis) -> dict[str, Any]:
    """The `ops/audit.jsonl` line for a run: time, symptom, inputs, checks, root cause, fix."""
    root = diagnosis.root_cause
    skipped = [c for c in diagnosis.checks if c.status is not CheckStatus.RAN]
    return {
        "time": diagnosis.started_at,
        "symptom": diagnosis.route.symptom,
        "categories": [c.value for c in diagnosis.route.categories],
        "inputs": {k: v for k, v in diagnosis.inputs.items() if v},
        "checks": [
            {
                "check": c.kind.value,
                "status": c.status.value,
                "command": c.command,
                "findings": len(c.findings),
            }
            for c in diagnosis.checks
        ],
        "root_cause": None
        if root is None
        else {
            "cause": root.cause.key,
            "status": root.status.value,
            "component": root.cause.component,
            "codes": sorted({f.code for f in root.findings}),
        },
        "fix": solution(root) if root is not None else None,
        "fixes_available": [offer.command for offer in diagnosis.fixes],
        "plan": [f"{c.kind.value}: {c.reason}" for c in skipped],
        "duration_s": diagnosis.duration_s,
    }


from infermedic._entry import make_callable  # noqa: E402 - after the entry point

make_callable(__name__)
