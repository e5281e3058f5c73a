"""The demo tour: each scenario written, served on 127.0.0.1, fed traffic, diagnosed, reported.

This is the README's first command. For each scenario it does what a user would: write the
service's repository, start it, send production-like traffic (which writes the prediction
log), run `diagnose` with the scenario's symptom in a user's words and every input a user
would have (repo, URL, reference data, prediction logs, the process id), write the reports,
and stop the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from infermedic.cli.output import write_atomically
from infermedic.demo.diagnosing import diagnose_service, write_reports
from infermedic.demo.fixing import (
    FixResult,
    fix_and_verify,
    fix_candidates,
    fixed_cell,
    measure_load,
    tour_columns,
)
from infermedic.demo.scenarios import SCENARIOS, Scenario, get_scenario
from infermedic.errors import InfermedicError, InputError
from infermedic.model import Notification

if TYPE_CHECKING:
    from infermedic.demo.mlflow_registry import DemoRegistry

# A representative tour: the healthy service and one fault from each symptom family.
TOUR = (
    "healthy",
    "blocking-predict",
    "no-validation",
    "global-lock",
    "memory-leak",
    "preprocessing-skew",
    "input-drift",
)

# The cause (a key of `infermedic.diagnose.hypotheses.CAUSES`) each planted fault should be
# diagnosed as; None for the healthy service, which should get no root cause.
EXPECTED_CAUSE: dict[str, str | None] = {
    "healthy": None,
    "blocking-predict": "event-loop-blocking",
    "load-per-request": "model-load-per-request",
    "explainer-per-request": "explainer-per-request",
    "blocking-log": "blocking-prediction-log",
    "slow-upstream": "slow-dependency",
    "memory-leak": "memory-leak",
    "cold-start": "cold-start",
    "preprocessing-skew": "preprocessing-skew",
    "input-drift": "input-drift",
    "version-mismatch": "model-version-mismatch",
    "no-validation": "missing-input-validation",
    "global-lock": "serialized-inference",
}
# With a real MLflow registry (`demo.mlflow_registry`), the finer cause the registry shows.
REGISTRY_EXPECTED_CAUSE: dict[str, str | None] = {
    "version-mismatch": "registry-alias-moved",
}


Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ScenarioOutcome:
    scenario: Scenario
    expected_cause: str | None
    found_cause: str | None
    found_title: str
    status: str  # the root cause's status, or "none"
    sources: tuple[str, ...]
    seconds: float
    report_html: Path | None
    error: str | None = None
    fixed: FixResult | None = None  # with `--fix`: before and after the fix

    @property
    def correct(self) -> bool:
        return self.error is None and self.found_cause == self.expected_cause

    @property
    def fixed_ok(self) -> bool:
        """No fix was applied, or the applied fix removed the root cause and its regression
        tests pass."""
        fixed = self.fixed
        if fixed is None or not fixed.applied:
            return True
        return fixed.root_cause_gone and fixed.tests is not None and fixed.tests.ok


@dataclass(frozen=True, kw_only=True)
class TourResult:
    outcomes: tuple[ScenarioOutcome, ...]
    index_html: Path
    seconds: float

    @property
    def all_correct(self) -> bool:
        return all(o.correct for o in self.outcomes)


def tour_table(outcomes: Sequence[ScenarioOutcome], *, fix: bool) -> Table:
    """The tour's summary table; with `fix`, a "fixed" column says what the fix did."""
    table = Table(title="infermedic demo", title_justify="left")
    for column in tour_columns(fix):
        table.add_column(column, overflow="fold")
    for outcome in outcomes:
        row = [
            outcome.scenario.name,
            outcome.scenario.symptom,
            outcome.error or f"{outcome.found_title} ({outcome.status})",
            ", ".join(outcome.sources) or "-",
            "yes" if outcome.correct else "NO",
        ]
        if fix:
            row.append(fixed_cell(outcome.fixed))
        table.add_row(*row, f"{outcome.seconds:.0f}")
    return table


def tour_scenarios(names: Sequence[str], *, everything: bool) -> list[Scenario]:
    """The scenarios to run: the named ones, all of them, or the representative tour."""
    if everything:
        return list(SCENARIOS.values())
    if names:
        return [get_scenario(name) for name in names]
    return [SCENARIOS[name] for name in TOUR if name in SCENARIOS]


def run_tour(
    scenarios: Sequence[Scenario],
    workdir: Path,
    *,
    progress: Progress | None = None,
    duration_s: float = 5.0,
    fix: bool = False,
) -> TourResult:
    """Run every scenario in turn; one scenario failing is recorded, and the tour goes on."""
    say = progress or (lambda _message: None)
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    outcomes = []
    for number, scenario in enumerate(scenarios, start=1):
        say(f"[{number}/{len(scenarios)}] {scenario.name}: {scenario.symptom}")
        outcomes.append(
            run_scenario(scenario, workdir, progress=say, duration_s=duration_s, fix=fix)
        )
    index = workdir / "index.html"
    write_atomically(
        index,
        _index_html(outcomes),
        hint="choose another --workdir, or free space / write access there",
    )
    return TourResult(
        outcomes=tuple(outcomes), index_html=index, seconds=time.perf_counter() - started
    )


def run_scenario(
    scenario: Scenario,
    workdir: Path,
    *,
    progress: Progress | None = None,
    duration_s: float = 5.0,
    fix: bool = False,
) -> ScenarioOutcome:
    """Write, serve, feed, diagnose and stop one scenario; reports land in `workdir/NAME/`.
    With `fix`, then fix it, serve it again and compare (`demo.fixing`; the fixed run's
    reports land in `workdir/NAME/after/`)."""
    from infermedic.demo.mlflow_registry import serving_options
    from infermedic.demo.service import running_scenario
    from infermedic.diagnose import audit_log_entry
    from infermedic.diagnose.timeline import append_entry

    say = progress or (lambda _message: None)
    started = time.perf_counter()
    directory = workdir / scenario.name
    expected = EXPECTED_CAUSE.get(scenario.name)
    service_dir = directory / "service"
    try:
        clear_previous_run(service_dir)
        served, registry, notes = prepare_registry(scenario, directory, say)
        if registry is not None:
            expected = REGISTRY_EXPECTED_CAUSE.get(scenario.name, expected)
        with running_scenario(served, service_dir, **serving_options(registry)) as service:
            diagnosis = diagnose_service(
                scenario, service, say, duration_s=duration_s, registry=registry
            )
            # the load plan only where there is something to fix: a bounded tour
            before_load = (
                measure_load(scenario, service) if fix and fix_candidates(diagnosis) else None
            )
        html = write_reports(diagnosis, directory, notes=notes)
        audit_log = workdir / "ops" / "audit.jsonl"
        entry = audit_log_entry(diagnosis)
        append_entry(audit_log, {**entry, "step": "diagnosis"} if fix else entry)
        fixed = None
        if fix:
            fixed = fix_and_verify(
                scenario,
                service_dir.resolve(),
                diagnosis,
                before_load,
                directory=directory,
                audit_log=audit_log,
                say=say,
                duration_s=duration_s,
                registry=registry,
            )
    except InfermedicError as exc:
        return ScenarioOutcome(
            scenario=scenario,
            expected_cause=expected,
            found_cause=None,
            found_title="-",
            status="error",
            sources=(),
            seconds=time.perf_counter() - started,
            report_html=None,
            error=str(exc),
        )
    root = diagnosis.root_cause
    return ScenarioOutcome(
        scenario=scenario,
        expected_cause=expected,
        found_cause=root.cause.key if root is not None else None,
        found_title=root.cause.title if root is not None else "no root cause",
        status=root.status.value if root is not None else "none",
        sources=tuple(s.value for s in root.sources) if root is not None else (),
        seconds=time.perf_counter() - started,
        report_html=html,
        fixed=fixed,
    )


def prepare_registry(
    scenario: Scenario, directory: Path, say: Progress
) -> tuple[Scenario, DemoRegistry | None, list[Notification]]:
    """For a scenario that has a registry part: build the real MLflow registry in
    `directory/registry` and serve from it when mlflow is installed; else the scenario as it
    is, and a note saying what was skipped. Returns the scenario to serve, the registry, and
    the notes for the report."""
    from infermedic.demo import mlflow_registry

    if scenario.name not in mlflow_registry.REGISTRY_SCENARIOS:
        return scenario, None, []
    missing = mlflow_registry.mlflow_missing()
    if missing is not None:
        note = mlflow_registry.registry_skipped(scenario, missing)
        say(f"  {note.message}")
        return scenario, None, [note]
    registry = mlflow_registry.build_registry(directory / "registry", say)
    say(
        f"  MLflow registry ready in {registry.seconds:.1f} s: {registry.tracking_uri}, "
        f"@{mlflow_registry.ALIAS} moved from version {mlflow_registry.PREVIOUS} to "
        f"{mlflow_registry.PROMOTED}"
    )
    return mlflow_registry.with_mlflow_registry(scenario), registry, []


def clear_previous_run(service_dir: Path) -> None:
    """Remove an earlier tour's copy of the scenario, and only that: a directory that is not
    a written scenario is never deleted."""
    import shutil

    from infermedic.demo.service import is_scenario_directory

    if not service_dir.exists():
        return
    if not is_scenario_directory(service_dir):
        raise InputError(
            f"{service_dir} exists and is not a demo scenario; not overwriting it",
            hint="choose another --workdir",
        )
    shutil.rmtree(service_dir)


def _index_html(outcomes: Sequence[ScenarioOutcome]) -> str:
    fixed = any(o.fixed is not None for o in outcomes)  # `--fix`: a "fixed" column
    rows = []
    for o in outcomes:
        link = (
            f'<a href="{escape(o.scenario.name)}/report.html">report</a>'
            if o.report_html is not None
            else escape(o.error or "-")
        )
        verdict = "✔" if o.correct else "✘"
        rows.append(
            f"<tr><td>{escape(o.scenario.name)}</td><td>{escape(o.scenario.symptom)}</td>"
            f"<td>{escape(o.found_title)} ({escape(o.status)})</td>"
            f"<td>{escape(', '.join(o.sources) or '-')}</td><td>{verdict}</td>"
            + (f"<td>{escape(fixed_cell(o.fixed))}</td>" if fixed else "")
            + f"<td>{o.seconds:.1f}</td><td>{link}</td></tr>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>infermedic demo</title><style>body{font-family:system-ui,sans-serif;"
        "margin:2rem}td,th{border:1px solid #ddd;padding:.3rem .6rem}table{border-collapse:"
        "collapse}</style></head><body><h1>infermedic demo tour</h1><table><tr>"
        "<th>scenario</th><th>symptom</th><th>root cause found</th><th>evidence from</th>"
        "<th>as planted</th>"
        + ("<th>fixed</th>" if fixed else "")
        + "<th>seconds</th><th>report</th></tr>"
        + "".join(rows)
        + "</table></body></html>\n"
    )


def require_scenarios(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise InputError(
            f"unknown scenario(s): {', '.join(unknown)}",
            hint=f"known: {', '.join(SCENARIOS)}",
        )
