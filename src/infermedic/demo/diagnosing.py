"""One scenario diagnosed as a user would, and its reports written: shared by the tour
(`runner.py`) and the fix-and-verify step (`fixing.py`), which both import it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from infermedic.atomic import write_atomically
from infermedic.demo.scenarios import Scenario
from infermedic.demo.service import RunningService
from infermedic.diagnose.model import Diagnosis
from infermedic.diagnose.replay import save_observations
from infermedic.errors import InputError
from infermedic.model import Notification
from infermedic.report import OutputFormat, render

if TYPE_CHECKING:
    from infermedic.demo.mlflow_registry import DemoRegistry

Progress = Callable[[str], None]
TRAFFIC_REQUESTS = 400
TRAFFIC_MAX_S = 12.0
LOG_FLUSH_WAIT_S = 2.5  # the services' prediction logs complete a file every 0.5-2 s


def diagnose_service(
    scenario: Scenario,
    service: RunningService,
    say: Progress,
    *,
    duration_s: float,
    registry: DemoRegistry | None = None,
) -> Diagnosis:
    """Feed a running scenario what its symptom needs and diagnose it as a user would, with
    `--registry-model` and `--tracking-uri` when it loads its model from a real `registry`."""
    from infermedic.demo.data import request_bodies
    from infermedic.demo.traffic import generate_traffic
    from infermedic.diagnose import DiagnoseOptions, diagnose
    from infermedic.diagnose.plan import Inputs

    say(f"  serving on {service.url} (pid {service.pid})")
    if _needs_prediction_log(scenario):
        # Production traffic that wrote the prediction log before anyone looked. Only when
        # the symptom calls for the data checks: the first requests of a cold service must
        # be the probe's, or a cold start is invisible.
        say(f"  sending {TRAFFIC_REQUESTS} requests of production-like traffic")
        generate_traffic(
            scenario,
            service.url,
            requests=TRAFFIC_REQUESTS,
            duration=TRAFFIC_MAX_S,
            concurrency=4,
        )
        time.sleep(LOG_FLUSH_WAIT_S)
    say("  diagnosing")
    return diagnose(
        scenario.symptom,
        Inputs(
            repo=service.directory,
            url=service.url,
            reference=str(service.reference_path),
            current=str(service.prediction_log_dir),
            pid=service.pid,
            registry_model=registry.model if registry is not None else None,
            tracking_uri=registry.tracking_uri if registry is not None else None,
        ),
        options=DiagnoseOptions(
            duration_s=duration_s,
            input_body=request_bodies(scenario, 1, seed=7)[0],
            expect_version=scenario.pinned_model_version,
            prediction_columns=("churn_probability",),
            target_columns=("churned",),
        ),
        progress=lambda message: say(f"    {message}"),
    )


def _needs_prediction_log(scenario: Scenario) -> bool:
    from infermedic.diagnose.hypotheses import CheckKind
    from infermedic.diagnose.plan import Inputs, plan_checks
    from infermedic.diagnose.router import route

    planned = plan_checks(route(scenario.symptom).categories, Inputs(reference="r", current="c"))
    return any(check.kind is CheckKind.DRIFT for check in planned)


def write_reports(
    diagnosis: Diagnosis, directory: Path, *, notes: Sequence[Notification] = ()
) -> Path:
    """The reports in Markdown, JSON and HTML; `notes` are what the demo itself skipped."""
    report = diagnosis.to_report()
    if notes:
        report = replace(report, notifications=(*notes, *report.notifications))
    for fmt, suffix in (
        (OutputFormat.MARKDOWN, "md"),
        (OutputFormat.JSON, "json"),
        (OutputFormat.HTML, "html"),
    ):
        path = directory / f"report.{suffix}"
        try:
            write_atomically(path, render(report, fmt))
        except OSError as exc:  # the tour records it for this scenario and goes on
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    # what the checks measured, so the verdict can be re-judged: `diagnose --replay DIR`
    save_observations(diagnosis, directory / "observations.json")
    return directory / "report.html"
