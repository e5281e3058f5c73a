"""Held-out diagnosis cases: serve each one, run `infermedic diagnose` on it, score the verdict.

Each case under `tests/fixtures/diagnose_cases/<case>/` is a small service repository written
unlike the demo (other frameworks, layouts, log formats and symptom wording) plus a
`case.toml` that says how to start it, what a user would write about it, which inputs to give
`diagnose`, and which root cause (or none, for a healthy service) the diagnosis must name.

For every case this script copies the repository to a scratch directory, runs its seeded
preparation commands (training data, model files, prediction logs), starts its processes on
127.0.0.1 with free ports (each in its own process group), waits for readiness within a bound,
runs `python -m infermedic diagnose ... --format json` as a subprocess, stops every process
group it started, and scores the JSON verdict:

- the root cause is the expected one (no root cause at all for a healthy case);
- it is confirmed by measurement when the case says it should be;
- no cause is confirmed on a healthy case (false confirmations are listed for every case).

It imports nothing from `infermedic`: it drives the CLI the way a user would.

    python bench/diagnose/run_cases.py                      # every case, results.md beside it
    python bench/diagnose/run_cases.py --case ticket-triage-starlette --repeat 3
    python bench/diagnose/run_cases.py --busy               # two CPU burners during each run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CASES_DIR = ROOT / "tests" / "fixtures" / "diagnose_cases"
CASE_FILE = "case.toml"
DEFAULT_DURATION_S = 4.0
DEFAULT_RATE = 15.0
PREPARE_TIMEOUT_S = 90.0
READY_TIMEOUT_S = 45.0
DIAGNOSE_TIMEOUT_S = 300.0
STOP_GRACE_S = 5.0
BURNER = "import time\nwhile True:\n    sum(i * i for i in range(10000))\n"
PLACEHOLDER = re.compile(r"\{(python|repo|port|url)(?::([A-Za-z0-9_-]+))?\}")


class CaseError(Exception):
    """A case could not be served or diagnosed (its own bug or the tool's crash)."""


@dataclass(frozen=True, kw_only=True)
class ProcessSpec:
    name: str
    command: tuple[str, ...]
    ready_path: str | None = None  # GET until 200; None: the TCP port accepting is enough
    port: bool = True  # whether the process listens (a CPU burner does not)
    env: Mapping[str, str] = field(default_factory=dict)
    ready_timeout_s: float = READY_TIMEOUT_S


@dataclass(frozen=True, kw_only=True)
class Case:
    name: str
    directory: Path
    description: str
    symptom: str
    expected_cause: str | None  # None: a healthy service, no root cause
    expect_confirmed: bool
    also_accept: tuple[str, ...]
    prepare: tuple[tuple[str, ...], ...]
    processes: tuple[ProcessSpec, ...]
    diagnose: Mapping[str, Any]

    @property
    def healthy(self) -> bool:
        return self.expected_cause is None


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    case: str
    run: int
    expected: str  # a cause key, or "none"
    expect_confirmed: bool
    got: str  # the root cause's key, or "none"
    got_status: str  # the root cause's status, or "-"
    confirmed: tuple[str, ...]  # every confirmed cause
    false_confirmed: tuple[str, ...]  # confirmed causes other than the expected one
    failed_checks: tuple[str, ...]  # "kind: reason" of each check that failed
    notes: tuple[str, ...]
    seconds: float
    error: str | None = None
    report: str | None = None  # the diagnose JSON report, when kept

    @property
    def cause_ok(self) -> bool:
        return self.error is None and self.got == self.expected

    @property
    def confirmation_ok(self) -> bool:
        if self.error is not None:
            return False
        if self.expected == "none":
            # "nothing found" from a check that failed is no verdict on a healthy service
            return not self.confirmed and not self.failed_checks
        if self.expect_confirmed:
            return self.got_status == "confirmed"
        return True

    @property
    def passed(self) -> bool:
        return self.cause_ok and self.confirmation_ok

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "ERROR"
        if self.passed:
            return "PASS"
        if not self.cause_ok:
            return "WRONG CAUSE"
        if self.expected == "none":
            return "FALSE CONFIRMED" if self.confirmed else "CHECK FAILED"
        return "NOT CONFIRMED"


# ---------------------------------------------------------------------------- loading cases


def load_cases(names: Sequence[str] = (), cases_dir: Path = CASES_DIR) -> list[Case]:
    """Every case under `cases_dir` (or only the named ones), sorted by name."""
    found = sorted(p.parent for p in cases_dir.glob(f"*/{CASE_FILE}"))
    by_name = {d.name: d for d in found}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [load_case(by_name[n]) for n in (names or by_name)]


def load_case(directory: Path) -> Case:
    with (directory / CASE_FILE).open("rb") as handle:
        raw = tomllib.load(handle)
    meta = raw["case"]
    expected = meta["expected_cause"]
    processes = tuple(
        ProcessSpec(
            name=p["name"],
            command=tuple(p["command"]),
            ready_path=p.get("ready_path"),
            port=p.get("port", True),
            env=dict(p.get("env", {})),
            ready_timeout_s=float(p.get("ready_timeout_s", READY_TIMEOUT_S)),
        )
        for p in raw.get("process", [])
    )
    return Case(
        name=directory.name,
        directory=directory,
        description=meta.get("description", ""),
        symptom=meta["symptom"],
        expected_cause=None if expected == "none" else expected,
        expect_confirmed=bool(meta.get("expect_confirmed", expected != "none")),
        also_accept=tuple(meta.get("also_accept", ())),
        prepare=tuple(tuple(c) for c in raw.get("prepare", {}).get("commands", [])),
        processes=processes,
        diagnose=raw.get("diagnose", {}),
    )


# ------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(kw_only=True)
class Started:
    spec: ProcessSpec
    process: subprocess.Popen[bytes]
    port: int | None
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Substitutions:
    """`{python}`, `{repo}`, `{port}` / `{port:NAME}`, `{url}` / `{url:NAME}` in case strings."""

    def __init__(self, repo: Path, ports: Mapping[str, int], main: str) -> None:
        self.repo = repo
        self.ports = ports
        self.main = main

    def __call__(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            what, name = match.group(1), match.group(2) or self.main
            if what == "python":
                return sys.executable
            if what == "repo":
                return str(self.repo)
            if name not in self.ports:
                raise CaseError(f"{match.group(0)}: no listening process named {name!r}")
            port = self.ports[name]
            return str(port) if what == "port" else f"http://127.0.0.1:{port}"

        return PLACEHOLDER.sub(one, text)


def service_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def start_process(
    spec: ProcessSpec, command: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # its own session and process group: stopping it stops its workers too
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(started: Started) -> float:
    """Seconds until the process answers; raises CaseError when it dies or the bound passes."""
    spec = started.spec
    begin = time.monotonic()
    deadline = begin + spec.ready_timeout_s
    while time.monotonic() < deadline:
        if started.process.poll() is not None:
            raise CaseError(
                f"process {spec.name!r} exited with {started.process.returncode} before it was "
                f"ready:\n{started.log_tail()}"
            )
        if started.port is None:
            return 0.0
        if _answers(started):
            return time.monotonic() - begin
        time.sleep(0.2)
    raise CaseError(
        f"process {spec.name!r} not ready within {spec.ready_timeout_s:g} s:\n{started.log_tail()}"
    )


def _answers(started: Started) -> bool:
    if started.spec.ready_path is None:
        try:
            with socket.create_connection(("127.0.0.1", started.port or 0), timeout=1.0):
                return True
        except OSError:
            return False
    try:
        with urllib.request.urlopen(started.url + started.spec.ready_path, timeout=2.0) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def stop_group(process: subprocess.Popen[bytes]) -> list[int]:
    """Stop a process and its whole group; returns the pids still alive afterwards."""
    pgid = process.pid  # start_new_session: the leader's pid is the group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_S)
    deadline = time.monotonic() + STOP_GRACE_S
    left = group_members(pgid)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = group_members(pgid)
    return left


def group_members(pgid: int) -> list[int]:
    alive = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(proc.pid)
        except (ProcessLookupError, psutil.Error, PermissionError):
            continue
    return alive


@contextlib.contextmanager
def burners(count: int, workdir: Path) -> Iterator[None]:
    """`count` CPU-bound processes for the busy-host condition; stopped on exit."""
    started = []
    try:
        for number in range(count):
            spec = ProcessSpec(name=f"burner-{number}", command=(), port=False)
            log = workdir / f"burner-{number}.log"
            command = (sys.executable, "-c", BURNER)
            started.append(start_process(spec, command, workdir, service_env({}), log))
        yield
    finally:
        for process in started:
            stop_group(process)


# ---------------------------------------------------------------------------- one case


@contextlib.contextmanager
def served(case: Case, repo: Path, logs: Path) -> Iterator[dict[str, Started]]:
    """The case's processes, started in order, each ready before the next; all stopped after."""
    ports = {p.name: free_port() for p in case.processes if p.port}
    main = case.processes[-1].name if case.processes else "service"
    subst = Substitutions(repo, ports, main)
    started: dict[str, Started] = {}
    leftovers: list[str] = []
    try:
        for spec in case.processes:
            command = [subst(part) for part in spec.command]
            env = service_env({k: subst(v) for k, v in spec.env.items()})
            log = logs / f"{spec.name}.log"
            process = start_process(spec, command, repo, env, log)
            started[spec.name] = Started(
                spec=spec, process=process, port=ports.get(spec.name), log=log
            )
            wait_ready(started[spec.name])
        yield started
    finally:
        for item in reversed(list(started.values())):
            left = stop_group(item.process)
            if left:
                leftovers.append(f"{item.spec.name}: pids {left} survived SIGKILL")
    if leftovers:
        raise CaseError("; ".join(leftovers))


def prepare(case: Case, repo: Path, logs: Path) -> None:
    subst = Substitutions(repo, {}, "")
    for number, command in enumerate(case.prepare):
        argv = [subst(part) for part in command]
        log = logs / f"prepare-{number}.log"
        with log.open("wb") as out:
            try:
                done = subprocess.run(
                    argv,
                    cwd=repo,
                    env=service_env({}),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=PREPARE_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise CaseError(f"prepare {argv[1:]} ran past {PREPARE_TIMEOUT_S:g} s") from exc
        if done.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
            raise CaseError(f"prepare {argv[1:]} exited {done.returncode}:\n{tail}")


def copy_repo(case: Case, destination: Path) -> Path:
    repo = destination / case.name
    shutil.copytree(
        case.directory,
        repo,
        ignore=shutil.ignore_patterns(CASE_FILE, "__pycache__", "*.pyc"),
    )
    return repo


_SUPPORTED: dict[str, bool] = {}


def diagnose_supports(option: str) -> bool:
    """Whether this infermedic's `diagnose` takes `option` (asked once, from --help)."""
    if option not in _SUPPORTED:
        done = subprocess.run(
            [sys.executable, "-m", "infermedic", "diagnose", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        _SUPPORTED[option] = option in done.stdout
    return _SUPPORTED[option]


def diagnose_command(
    case: Case,
    repo: Path,
    started: Mapping[str, Started],
    output: Path,
    audit_log: Path,
    *,
    duration_s: float,
    rate: float,
) -> tuple[list[str], list[str]]:
    """The `diagnose` argv for this case, and notes on inputs this version cannot take."""
    spec = case.diagnose
    ports = {name: s.port for name, s in started.items() if s.port is not None}
    subst = Substitutions(repo, ports, case.processes[-1].name if case.processes else "")
    argv = [sys.executable, "-m", "infermedic", "diagnose", case.symptom]
    notes: list[str] = []
    if spec.get("repo", True):
        argv += ["--repo", str(repo)]
    if "url" in spec:
        argv += ["--url", f"http://127.0.0.1:{started[spec['url']].port}"]
    if "pid" in spec:
        argv += ["--pid", str(_pid(spec["pid"], started))]
    for key, option in (
        ("input", "--input"),
        ("reference", "--reference"),
        ("current", "--current"),
        ("model", "--model-path"),
        ("expect_version", "--expect-version"),
    ):
        if key in spec:
            value = subst(str(spec[key]))
            if key in ("input", "reference", "current", "model") and not Path(value).is_absolute():
                value = str(repo / value)
            argv += [option, value]
    for column in spec.get("prediction", []):
        argv += ["--prediction", column]
    for column in spec.get("target", []):
        argv += ["--target", column]
    # Inputs that the issue asks diagnose to take; older versions lack them, and the run then
    # goes without (noted), which is itself part of the "before" figure.
    for key, option in (("predict_path", "--predict-path"), ("health_path", "--health-path")):
        if key in spec:
            if diagnose_supports(option):
                argv += [option, str(spec[key])]
            else:
                notes.append(f"diagnose has no {option}; ran without {spec[key]}")
    if "url" in spec:
        argv += ["--duration", f"{duration_s:g}", "--rate", f"{rate:g}"]
    argv += [subst(a) for a in spec.get("extra_args", [])]
    argv += ["--format", "json", "--output", str(output), "--audit-log", str(audit_log)]
    return argv, notes


def _pid(which: str, started: Mapping[str, Started]) -> int:
    """`NAME` is the process the case started; `NAME:worker` its first child (a gunicorn
    worker, the process a user finds with `pgrep -f 'gunicorn: worker'`)."""
    name, _, part = which.partition(":")
    process = started[name].process
    if not part:
        return process.pid
    children = psutil.Process(process.pid).children()
    if not children:
        raise CaseError(f"{name} has no worker process to give as --pid")
    return children[0].pid


def run_case(
    case: Case,
    *,
    run: int = 1,
    duration_s: float = DEFAULT_DURATION_S,
    rate: float = DEFAULT_RATE,
    busy: bool = False,
    keep_reports: Path | None = None,
) -> CaseResult:
    """Prepare, serve, diagnose and stop one case; never raises for the case's own failures."""
    started_at = time.monotonic()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"heldout-{case.name}-") as scratch:
        work = Path(scratch)
        logs = work / "logs"
        logs.mkdir()
        output = work / "diagnosis.json"
        try:
            repo = copy_repo(case, work)
            prepare(case, repo, logs)
            busy_ctx = burners(2, work) if busy else contextlib.nullcontext()
            with busy_ctx, served(case, repo, logs) as started:
                argv, notes = diagnose_command(
                    case,
                    repo,
                    started,
                    output,
                    work / "audit.jsonl",
                    duration_s=duration_s,
                    rate=rate,
                )
                done = _run_diagnose(argv, work, logs)
            if not output.is_file():
                raise CaseError(
                    f"diagnose exited {done.returncode} without a report: "
                    f"{(done.stderr or done.stdout).strip()[-800:]}"
                )
            report = json.loads(output.read_text(encoding="utf-8"))
            if done.returncode not in (0, 1):
                notes.append(f"diagnose exited {done.returncode}")
        except CaseError as exc:
            return _errored(case, run, notes, started_at, str(exc))
        kept = None
        if keep_reports is not None:
            keep_reports.mkdir(parents=True, exist_ok=True)
            kept_path = keep_reports / f"{case.name}-run{run}.json"
            shutil.copyfile(output, kept_path)
            # what the checks measured, for `diagnose --replay` (kept beside the report)
            observed = output.with_name(output.stem + ".observations.json")
            if observed.is_file():
                shutil.copyfile(observed, kept_path.with_suffix(".observations.json"))
            kept = str(kept_path)
    return score(
        case, report, run=run, notes=notes, seconds=time.monotonic() - started_at, kept=kept
    )


def _run_diagnose(argv: list[str], work: Path, logs: Path) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            argv,
            cwd=work,
            env=service_env({}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=DIAGNOSE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CaseError(f"diagnose ran past {DIAGNOSE_TIMEOUT_S:g} s") from exc
    (logs / "diagnose.stderr").write_text(done.stderr, encoding="utf-8")
    return done


def _errored(case: Case, run: int, notes: list[str], started_at: float, error: str) -> CaseResult:
    return CaseResult(
        case=case.name,
        run=run,
        expected=case.expected_cause or "none",
        expect_confirmed=case.expect_confirmed,
        got="-",
        got_status="-",
        confirmed=(),
        false_confirmed=(),
        failed_checks=(),
        notes=tuple(notes),
        seconds=round(time.monotonic() - started_at, 1),
        error=error,
    )


def score(
    case: Case,
    report: Mapping[str, Any],
    *,
    run: int = 1,
    notes: Sequence[str] = (),
    seconds: float = 0.0,
    kept: str | None = None,
) -> CaseResult:
    """Score one diagnose JSON report against the case's expectation."""
    diagnosis = report.get("measurements", {}).get("diagnosis")
    if not isinstance(diagnosis, dict):
        return _errored(case, run, list(notes), time.monotonic() - seconds, "no diagnosis")
    expected = case.expected_cause or "none"
    accepted = {expected, *case.also_accept}
    root = diagnosis.get("root_cause")
    got = root["key"] if root else "none"
    if got in accepted:
        got = expected
    confirmed = tuple(
        h["key"] for h in diagnosis.get("hypotheses", []) if h.get("status") == "confirmed"
    )
    failed = tuple(
        f"{c['kind']}: {c.get('reason', '')}"
        for c in diagnosis.get("checks", [])
        if c.get("status") == "failed"
    )
    return CaseResult(
        case=case.name,
        run=run,
        expected=expected,
        expect_confirmed=case.expect_confirmed,
        got=got,
        got_status=root["status"] if root else "-",
        confirmed=confirmed,
        false_confirmed=tuple(k for k in confirmed if k not in accepted),
        failed_checks=failed,
        notes=tuple(notes),
        seconds=round(seconds, 1),
        report=kept,
    )


# -------------------------------------------------------------------------------- output


def table(results: Sequence[CaseResult]) -> str:
    """A Markdown table, one row per case run."""
    rows = [
        "| case | run | expected | got | status | verdict | false confirmed | failed checks | s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        expected = r.expected + (
            " (confirmed)" if r.expect_confirmed and r.expected != "none" else ""
        )
        failed = "; ".join(_short(f) for f in r.failed_checks) or "-"
        got = r.got if r.error is None else f"error: {_short(r.error)}"
        rows.append(
            f"| {r.case} | {r.run} | {expected} | {got} | {r.got_status} | {r.verdict} | "
            f"{', '.join(r.false_confirmed) or '-'} | {failed} | {r.seconds:g} |"
        )
    return "\n".join(rows)


def summary(results: Sequence[CaseResult]) -> dict[str, Any]:
    faulty = [r for r in results if r.expected != "none"]
    healthy = [r for r in results if r.expected == "none"]
    return {
        "runs": len(results),
        "passed": sum(r.passed for r in results),
        "faulty_runs": len(faulty),
        "faulty_cause_correct": sum(r.cause_ok for r in faulty),
        "faulty_confirmed": sum(r.cause_ok and r.got_status == "confirmed" for r in faulty),
        "healthy_runs": len(healthy),
        "healthy_clean": sum(r.passed for r in healthy),
        "healthy_false_confirmed": sum(len(r.false_confirmed) for r in healthy),
        "errors": sum(r.error is not None for r in results),
    }


def _short(text: str, limit: int = 90) -> str:
    one = " ".join(text.split()).replace("|", "/")
    return one if len(one) <= limit else one[: limit - 1] + "…"


def write_results(
    results: Sequence[CaseResult], directory: Path, *, settings: Mapping[str, Any]
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    totals = summary(results)
    payload = {
        "settings": dict(settings),
        "summary": totals,
        "results": [{**asdict(r), "verdict": r.verdict, "passed": r.passed} for r in results],
    }
    (directory / "results.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    details = []
    for r in results:
        extra = [*r.notes, *(f"failed check {f}" for f in r.failed_checks)]
        if r.error:
            extra.insert(0, f"error: {r.error}")
        if extra:
            details.append(
                f"- **{r.case}** (run {r.run}): " + " · ".join(_short(e, 400) for e in extra)
            )
    text = "\n".join(
        [
            "# Held-out diagnosis cases: results",
            "",
            f"Settings: {', '.join(f'{k}={v}' for k, v in settings.items())}.",
            "",
            f"- faulty runs: root cause correct {totals['faulty_cause_correct']}"
            f"/{totals['faulty_runs']}, correct and confirmed {totals['faulty_confirmed']}"
            f"/{totals['faulty_runs']}",
            f"- healthy runs clean (no root cause, nothing confirmed): {totals['healthy_clean']}"
            f"/{totals['healthy_runs']}; false confirmed causes on healthy runs: "
            f"{totals['healthy_false_confirmed']}",
            f"- runs that errored: {totals['errors']}",
            "",
            table(results),
            "",
            "## Notes",
            "",
            *(details or ["(none)"]),
            "",
        ]
    )
    path = directory / "results.md"
    path.write_text(text, encoding="utf-8")
    return path


def rescore(directory: Path) -> int:
    """Re-judge the runs recorded in `directory/results.json` with the current scoring."""
    recorded = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    names = {f.name for f in fields(CaseResult)}
    results = [
        CaseResult(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in r.items() if k in names}
        )
        for r in recorded["results"]
    ]
    path = write_results(results, directory, settings=recorded["settings"])
    print(table(results))
    print(f"written: {path}")
    return 0 if all(r.passed for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", default=[], help="run only this case")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case")
    parser.add_argument("--busy", action="store_true", help="two CPU burners during each run")
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE)
    parser.add_argument("--results", type=Path, default=HERE, help="where results.md goes")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument(
        "--rescore", action="store_true", help="rewrite results.md from results.json (no runs)"
    )
    parser.add_argument(
        "--cases-dir", type=Path, default=CASES_DIR, help="where the case directories are"
    )
    args = parser.parse_args(argv)
    if args.rescore:
        return rescore(args.results)
    cases = load_cases(args.case, args.cases_dir)
    if args.list:
        for case in cases:
            print(f"{case.name:32} {case.expected_cause or 'none':26} {case.symptom}")
        return 0
    results = []
    for case in cases:
        for run in range(1, args.repeat + 1):
            print(f"[{case.name} run {run}] {case.symptom}", flush=True)
            result = run_case(
                case,
                run=run,
                duration_s=args.duration,
                rate=args.rate,
                busy=args.busy,
                keep_reports=args.results / "results" / "raw",
            )
            print(f"  -> {result.verdict}: got {result.got} ({result.got_status})", flush=True)
            results.append(result)
    settings = {
        "duration_s": args.duration,
        "rate": args.rate,
        "repeat": args.repeat,
        "busy": args.busy,
        "cpus": os.cpu_count(),
    }
    path = write_results(results, args.results, settings=settings)
    print(table(results))
    print(json.dumps(summary(results)))
    print(f"written: {path}")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
