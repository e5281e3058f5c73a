"""`infermedic demo SCENARIO --fix`: diagnose, fix, restart, diagnose again, compare.

After the scenario's first diagnosis (`runner.run_scenario`), its written repository is made
a scratch git work tree (one commit, so `git diff` there shows the fix), the fixes that
diagnosis offered are applied in mode apply-in-dev with their regression tests, the service
is started again from the fixed code, and it is diagnosed again. Both runs get the same load
plan (`LOAD_PLAN`) after their diagnosis, so p99 and throughput compare like with like.
Finally the generated regression tests run with pytest in the scenario's repository.

The audit log gets the whole timeline: the diagnosis (symptom → root cause), the fix (mode,
each change) and the verifying diagnosis.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from infermedic.demo.scenarios import Scenario
from infermedic.demo.service import RunningService
from infermedic.diagnose.hypotheses import Hypothesis, Status
from infermedic.diagnose.model import Diagnosis

if TYPE_CHECKING:
    from infermedic.demo.mlflow_registry import DemoRegistry

Progress = Callable[[str], None]

# The load both runs get after their diagnosis: closed loop, bounded in count and time.
LOAD_REQUESTS = 240
LOAD_MAX_S = 15.0
LOAD_CONCURRENCY = 8
LOAD_SEED = 11
PYTEST_TIMEOUT_S = 300.0
EXAMPLE_BODIES = 5  # known-good bodies SVC006 infers its request model from
_GIT = ("-c", "user.email=demo@infermedic", "-c", "user.name=infermedic demo")
_GIT_NO_SIGN = ("-c", "commit.gpgsign=false")


@dataclass(frozen=True, kw_only=True, slots=True)
class Load:
    """What the same load plan measured on one version of the service."""

    requests: int
    answered: int
    errors: int  # non-2xx answers and requests with no answer
    p50_ms: float | None
    p99_ms: float | None
    throughput_rps: float


@dataclass(frozen=True, kw_only=True, slots=True)
class RegressionRun:
    """The generated regression tests, run with pytest in the scenario's repository."""

    passed: int
    failed: int
    summary: str  # pytest's last line, or why the tests did not run
    ran: bool = True

    @property
    def ok(self) -> bool:
        return self.ran and self.failed == 0 and self.passed > 0


@dataclass(frozen=True, kw_only=True, slots=True)
class FixResult:
    """Before and after one scenario's fix."""

    cause: str | None  # the root cause key before the fix
    cause_title: str
    after_cause: str | None  # the root cause key after it
    after_title: str
    after_supported: tuple[str, ...]  # causes confirmed or suspected after the fix
    applied: tuple[str, ...]  # "SVC001 app/main.py: summary"
    refused: tuple[str, ...]
    before: Load | None
    after: Load | None
    tests: RegressionRun | None
    note: str = ""  # why nothing was fixed, or what failed
    request: str = ""  # the request the load plan sent, when not the plain prediction
    # the measured findings of the cause before the fix (`LIVE004`), and those still measured
    # after it: a fix can remove the cause the audit sees and leave part of the symptom
    symptoms_before: tuple[str, ...] = ()
    symptoms_after: tuple[str, ...] = ()
    advice: str = ""  # with nothing fixed: what to do instead (the cause's long-term fix)
    # the probe's first prediction after the service said ready, in each diagnosis: what a
    # cold start costs the first user (the load plan runs later, on a warm service)
    first_before_ms: float | None = None
    first_after_ms: float | None = None

    @property
    def root_cause_gone(self) -> bool:
        return (
            bool(self.applied)
            and self.cause is not None
            and (self.cause not in self.after_supported)
        )


def measure_load(scenario: Scenario, service: RunningService) -> Load:
    """The load plan, sent to the running service, on the request the fault is on."""
    from dataclasses import replace

    from infermedic.demo.traffic import generate_traffic

    target = scenario.fault_request
    result = generate_traffic(
        replace(scenario, predict_path=target) if target else scenario,
        service.url,
        requests=LOAD_REQUESTS,
        duration=LOAD_MAX_S,
        concurrency=LOAD_CONCURRENCY,
        seed=LOAD_SEED,
    )
    answered = result.succeeded + result.failed
    quantile = (
        (lambda q: round(result.latency_quantile(q) * 1000, 1)) if result.latencies_s else None
    )
    return Load(
        requests=result.sent,
        answered=answered,
        errors=result.failed + result.transport_errors,
        p50_ms=quantile(0.5) if quantile else None,
        p99_ms=quantile(0.99) if quantile else None,
        throughput_rps=round(result.throughput_rps, 1),
    )


def fix_and_verify(
    scenario: Scenario,
    root: Path,
    before: Diagnosis,
    before_load: Load | None,
    *,
    directory: Path,
    audit_log: Path,
    say: Progress,
    duration_s: float,
    registry: DemoRegistry | None = None,
) -> FixResult:
    """Apply the fixes `before` offers to the repo at `root`, serve and diagnose it again
    (against the same model `registry`, when the scenario has one)."""
    from infermedic.demo.data import request_bodies
    from infermedic.demo.diagnosing import diagnose_service, write_reports
    from infermedic.demo.mlflow_registry import serving_options
    from infermedic.demo.service import serving_directory
    from infermedic.diagnose import audit_log_entry
    from infermedic.diagnose.timeline import append_entry
    from infermedic.fix.engine import log_entry, plan, write
    from infermedic.settings import Settings

    root_cause = before.root_cause
    cause = root_cause.cause.key if root_cause is not None else None
    title = root_cause.cause.title if root_cause is not None else "no root cause"
    codes = fix_candidates(before)
    if not codes or before_load is None:
        note, advice = why_unfixed(before)
        return _unfixed(cause, title, before_load, before.fixes_note or note, advice=advice)
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    _snapshot(root)
    say(f"  fixing {', '.join(codes)} (mode apply-in-dev, with regression tests)")
    # the scenario's repo has no tests: SVC006 builds its schema from the traffic's good bodies
    inputs = tuple(request_bodies(scenario, EXAMPLE_BODIES)) if "SVC006" in codes else ()
    # SVC007 pins an unpinned model URI to what the scenario's own registry resolves now
    result = plan(
        root,
        Settings().override(select=codes),
        codes,
        tests=True,
        tracking_uri=registry.tracking_uri if registry is not None else None,
        inputs=inputs,
    )
    write(root, {rel: text for rel, (_before, text) in result.texts.items()})
    written = sorted(result.texts)
    append_entry(
        audit_log, log_entry(result, mode="apply-in-dev", select=codes, written=written, at=at)
    )
    applied = tuple(f"{c.code} {c.path}: {c.summary}" for c in result.changes)
    refused = tuple(f"{r.finding.code}: {r.reason}" for r in result.refusals)
    if not applied:
        advice = root_cause.cause.long_term_fix if root_cause is not None else ""
        return _unfixed(cause, title, before_load, "every fix was refused", refused, advice=advice)
    # the fixed service is judged on its own traffic: the prediction log of the run before
    # (with the first diagnosis' probe requests, which the old code logged) is set aside
    _set_aside_logs(root / scenario.prediction_log_dir, directory / "before-fix-logs")
    say("  restarting the fixed service")
    with serving_directory(root, **serving_options(registry)) as service:
        after = diagnose_service(scenario, service, say, duration_s=duration_s, registry=registry)
        say("  the same load plan again")
        after_load = measure_load(scenario, service)
    write_reports(after, directory / "after")
    append_entry(audit_log, {**audit_log_entry(after), "step": "verify"})
    say("  running the regression tests")
    tests = run_regression_tests(root)
    after_root = after.root_cause
    return FixResult(
        cause=cause,
        cause_title=title,
        after_cause=after_root.cause.key if after_root is not None else None,
        after_title=after_root.cause.title if after_root is not None else "no root cause",
        after_supported=tuple(
            h.cause.key
            for h in after.hypotheses
            if h.status in (Status.CONFIRMED, Status.SUSPECTED)
        ),
        applied=applied,
        refused=refused,
        before=before_load,
        after=after_load,
        tests=tests,
        request=scenario.fault_request or "",
        symptoms_before=measured_codes(before, root_cause),
        symptoms_after=measured_codes(after, root_cause),
        first_before_ms=first_prediction_ms(before),
        first_after_ms=first_prediction_ms(after),
    )


def first_prediction_ms(diagnosis: Diagnosis) -> float | None:
    """The probe's first prediction (its contract check, the service's first request after
    it answered ready), in ms; None when the probe did not run or did not measure it."""
    for check in diagnosis.checks:
        report = check.report
        if check.kind.value != "probe" or report is None:
            continue
        contract = report.measurements.get("contract")
        prediction = contract.get("prediction") if isinstance(contract, dict) else None
        elapsed = prediction.get("elapsed_ms") if isinstance(prediction, dict) else None
        if isinstance(elapsed, int | float):
            return float(elapsed)
    return None


def measured_codes(diagnosis: Diagnosis, hypothesis: Hypothesis | None) -> tuple[str, ...]:
    """The measured (not static) finding codes of `diagnosis` that `hypothesis`'s cause
    counts as its evidence."""
    if hypothesis is None:
        return ()
    codes = set(hypothesis.cause.codes)
    return tuple(
        sorted(
            {
                f.code
                for check in diagnosis.checks
                if check.kind.measured
                for f in check.findings
                if f.code in codes
            }
        )
    )


def _set_aside_logs(logs: Path, kept: Path) -> None:
    """Move the service's prediction log out of its repository (kept for the reader)."""
    if not logs.is_dir():
        return
    if kept.exists():
        shutil.rmtree(kept)
    shutil.move(str(logs), str(kept))


def fix_candidates(diagnosis: Diagnosis) -> tuple[str, ...]:
    """The codes `demo --fix` tries: the fixes the diagnosis offers, else the root cause's
    static finding codes that have a fixer (one that refused in diagnose's dry run is tried
    again, so its reason shows). Empty: nothing to fix, and no load plan is spent on it."""
    from infermedic.fix.engine import fixers_by_code

    offered = {offer.code for offer in diagnosis.fixes}
    root = diagnosis.root_cause
    if offered or root is None:
        return tuple(sorted(offered))
    fixers = fixers_by_code()
    return tuple(sorted({f.code for f in root.findings if f.code in fixers}))


def why_unfixed(diagnosis: Diagnosis) -> tuple[str, str]:
    """Why `demo --fix` changes nothing for this diagnosis, and what to do instead: no root
    cause; a cause the audit found in the code but no fixer can change mechanically; or a
    cause that is not a pattern in the code at all (drift, a slow upstream, a leak)."""
    root = diagnosis.root_cause
    if root is None:
        return "nothing to fix: no root cause", ""
    cause = root.cause
    static = sorted({f.code for f in root.findings if f.code in cause.static})
    if static:
        return (
            f"no mechanical fix for {cause.key} ({', '.join(static)} is in the code)",
            cause.long_term_fix,
        )
    measured = sorted({f.code for f in root.findings}) or ["-"]
    return (
        f"nothing to fix mechanically: the audit finds no code pattern behind {cause.key} "
        f"(measured: {', '.join(measured)})",
        cause.long_term_fix,
    )


def _unfixed(
    cause: str | None,
    title: str,
    load: Load | None,
    note: str,
    refused: tuple[str, ...] = (),
    *,
    advice: str = "",
) -> FixResult:
    return FixResult(
        cause=cause,
        cause_title=title,
        after_cause=cause,
        after_title=title,
        after_supported=(cause,) if cause else (),
        applied=(),
        refused=refused,
        before=load,
        after=None,
        tests=None,
        note=note,
        advice=advice,
    )


def _snapshot(root: Path) -> None:
    """Make `root` a git work tree with its code committed, so the fix shows in `git diff`
    (the service's logs stay untracked)."""
    commands = (
        ("init", "-q"),
        ("add", "-A", "--", ".", ":!logs", ":!server.log"),
        (*_GIT_NO_SIGN, "commit", "-q", "--allow-empty", "-m", "demo scenario as written"),
    )
    for command in commands:
        done = subprocess.run(
            ["git", *_GIT, "-C", str(root), *command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            from infermedic.errors import EngineUnavailable

            raise EngineUnavailable(f"git {command[0]} in {root} failed: {done.stderr.strip()}")


def run_regression_tests(root: Path) -> RegressionRun:
    """`pytest tests/regression` in the repo, with this interpreter."""
    if not (root / "tests" / "regression").is_dir():
        return RegressionRun(
            passed=0, failed=0, summary="no regression test was written", ran=False
        )
    if importlib.util.find_spec("pytest") is None:
        return RegressionRun(
            passed=0,
            failed=0,
            summary="pytest is not installed: run `pytest tests/regression` there",
            ran=False,
        )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/regression"],
            capture_output=True,
            text=True,
            timeout=PYTEST_TIMEOUT_S,
            check=False,
            cwd=root,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except subprocess.TimeoutExpired:
        return RegressionRun(passed=0, failed=0, summary="pytest timed out", ran=False)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    last = lines[-1] if lines else done.stderr.strip()[-200:]
    return RegressionRun(passed=_count(last, "passed"), failed=_count(last, "failed"), summary=last)


def _count(summary: str, word: str) -> int:
    match = re.search(rf"(\d+) {word}", summary)
    return int(match.group(1)) if match else 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _load_row(label: str, before: Load | None, after: Load | None, attr: str) -> tuple[str, ...]:
    def cell(load: Load | None) -> str:
        if load is None:
            return "-"
        value = getattr(load, attr)
        return f"{value:.1f}/s" if attr == "throughput_rps" else _ms(value)

    return (label, cell(before), cell(after))


def comparison_table(name: str, result: FixResult) -> Table:
    """Before and after side by side, for one scenario."""
    table = Table(title=f"{name}: before and after `infermedic fix`", title_justify="left")
    for column in ("", "before", "after"):
        table.add_column(column, overflow="fold")
    gone = "gone" if result.root_cause_gone else "still there"
    table.add_row(
        "root cause",
        result.cause_title,
        f"{result.after_title} ({result.cause or '-'} {gone})" if result.applied else "-",
    )
    table.add_row("fixes applied", "-", "\n".join(result.applied) or result.note or "-")
    if result.refused:
        table.add_row("fixes refused", "-", "\n".join(result.refused))
    plan = f"{LOAD_REQUESTS} requests, {LOAD_CONCURRENCY} at a time"
    if result.request:
        plan += f", POST {result.request}"
    if result.first_before_ms is not None or result.first_after_ms is not None:
        table.add_row(
            "first prediction after ready",
            _ms(result.first_before_ms),
            _ms(result.first_after_ms) if result.applied else "-",
        )
    table.add_row(f"load ({plan})", "", "")
    table.add_row(*_load_row("  p50", result.before, result.after, "p50_ms"))
    table.add_row(*_load_row("  p99", result.before, result.after, "p99_ms"))
    table.add_row(*_load_row("  throughput", result.before, result.after, "throughput_rps"))
    if result.symptoms_before or result.symptoms_after:
        still = ", ".join(result.symptoms_after)
        table.add_row(
            "measured symptom",
            ", ".join(result.symptoms_before) or "-",
            f"{still} still measured" if still else "none",
        )
    errors = [str(load.errors) if load else "-" for load in (result.before, result.after)]
    table.add_row("  errors", *errors)
    tests = result.tests
    table.add_row("regression tests", "-", tests.summary if tests else "-")
    return table


def fixed_cell(result: FixResult | None) -> str:
    """The tour's "fixed" column: what the fix did, in one cell."""
    if result is None:
        return "-"
    if not result.applied:
        # "nothing to fix: ..." is an answer, not a failure to fix
        return result.note if result.note.startswith("nothing to fix") else f"no: {result.note}"
    before = result.before.p99_ms if result.before else None
    after = result.after.p99_ms if result.after else None
    tests = result.tests
    verdict = "yes" if result.root_cause_gone and (tests is not None and tests.ok) else "NO"
    codes = ", ".join(sorted({line.split(" ", 1)[0] for line in result.applied}))
    still = f"; still measured: {', '.join(result.symptoms_after)}" if result.symptoms_after else ""
    first = (
        f"first prediction {_ms(result.first_before_ms)} → {_ms(result.first_after_ms)}; "
        if result.first_before_ms is not None and result.first_after_ms is not None
        else ""
    )
    return (
        f"{verdict}: {codes}; {first}p99 {_ms(before)} → {_ms(after)}; "
        f"tests {tests.summary if tests else '-'}{still}"
    )


def unfixed_text(name: str, result: FixResult) -> str:
    """One scenario nothing was fixed in: why, the refusals, and what to do instead."""
    lines = [f"{name}: {result.note}"]
    lines += [f"  refused {line}" for line in result.refused]
    if result.advice:
        lines.append(f"  what to do: {result.advice}")
    return "\n".join(lines)


def tour_columns(fix: bool) -> Sequence[str]:
    columns = ["scenario", "symptom", "root cause found", "evidence from", "ok"]
    if fix:
        columns.append("fixed")
    return [*columns, "s"]
