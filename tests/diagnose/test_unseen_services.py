"""The judge on services written for this check only (tests/fixtures/diagnose_unseen), replayed.

Each recording is the `observations.json` of a real `diagnose` run on one of the services
(served by uvicorn or gunicorn on 127.0.0.1 by `bench/diagnose/run_cases.py --cases-dir
tests/fixtures/diagnose_unseen`), on the 2-core development host while other work ran. The
replays pin the verdicts; the unit tests below pin the two rules the healthy one exposed:

- a saturated pool of synchronous workers delays the health check exactly as a blocked event
  loop does (LIVE001 cannot tell them apart); py-spy sampling the serving process and finding
  no event loop tells them apart, and then refutes the loop;
- a static finding the audit itself rated low (advice that matters only in a setting it cannot
  see) stays a suspected cause in the list but does not name the root cause alone.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from infermedic.audit import audit
from infermedic.diagnose import replay
from infermedic.diagnose.hypotheses import CheckKind, Coverage, Status, evaluate
from infermedic.diagnose.measured import MIN_LIVE_SAMPLES, LiveSampling, static_no_event_loop
from infermedic.diagnose.replay import judge
from infermedic.diagnose.router import Category
from infermedic.model import Effect, Finding, Location, Report, Severity
from infermedic.settings import Settings

UNSEEN = Path(__file__).resolve().parents[1] / "fixtures" / "incidents" / "unseen"
SERVICES = Path(__file__).resolve().parents[1] / "fixtures" / "diagnose_unseen"

# recording -> (root cause, its status); None: a healthy service, nothing named
RECORDED: dict[str, tuple[str | None, str | None]] = {
    "caption-rank-starlette-leak": ("memory-leak", "confirmed"),
    "fx-quote-lock": ("serialized-inference", "confirmed"),
    "upgrade-propensity-double-scale": ("preprocessing-skew", "confirmed"),
    "healthy-solar-ensemble": (None, None),
    # the same service after the fix, whose audit also names each route's framework
    "healthy-solar-ensemble-rerun": (None, None),
    # ... and run without --pid: only the route index says there is no loop
    "healthy-solar-ensemble-nopid": (None, None),
    # known gap: without --pid nothing but LIVE002 (a shared symptom) points at the lock
    "fx-quote-lock-nopid": (None, None),
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_an_unseen_service_replays_to_its_true_cause(name: str) -> None:
    diagnosis = replay(UNSEEN / f"{name}.json")
    root = diagnosis.root_cause
    key, status = RECORDED[name]
    assert (root.cause.key if root else None) == key, diagnosis.verdict()
    assert (root.status.value if root else None) == status
    if key is None:
        assert not [h for h in diagnosis.hypotheses if h.status is Status.CONFIRMED]


def test_the_healthy_gunicorn_service_gets_no_event_loop_cause() -> None:
    # Before the fix: LIVE001 on this Flask app under 2 sync workers was read as a blocked
    # event loop (suspected only because the host was busy; confirmed at a ratio of 1 on a
    # quiet one), and the gunicorn config's `workers = 2` (DKR002, low) named the root cause.
    diagnosis = replay(UNSEEN / "healthy-solar-ensemble.json")
    assert "LIVE001" in {f.code for c in diagnosis.checks for f in c.findings}
    loop = next(h for h in diagnosis.hypotheses if h.cause.key == "event-loop-blocking")
    assert loop.status is Status.REFUTED
    assert "no thread ran an event loop" in loop.reason and "synchronous worker" in loop.reason
    workers = next(h for h in diagnosis.hypotheses if h.cause.key == "worker-oversubscription")
    assert workers.status is Status.SUSPECTED and not workers.eligible_root


def test_the_rerun_refutes_the_loop_from_the_route_index_too() -> None:
    diagnosis = replay(UNSEEN / "healthy-solar-ensemble-rerun.json")
    loop = next(h for h in diagnosis.hypotheses if h.cause.key == "event-loop-blocking")
    assert loop.status is Status.REFUTED and "Flask (WSGI)" in loop.reason


def test_without_pid_the_route_index_alone_refutes_the_loop() -> None:
    diagnosis = replay(UNSEEN / "healthy-solar-ensemble-nopid.json")
    assert CheckKind.PROFILE not in {c.kind for c in diagnosis.checks if c.report is not None}
    assert "LIVE001" in {f.code for c in diagnosis.checks for f in c.findings}
    loop = next(h for h in diagnosis.hypotheses if h.cause.key == "event-loop-blocking")
    assert loop.status is Status.REFUTED and "Flask (WSGI)" in loop.reason


def test_without_pid_the_lock_is_left_untested_and_says_what_would_test_it() -> None:
    # The recorded audit predates SVC012 (its `rules_run` lacks it), so the replay keeps its
    # silence and does not count it as "looked for"; LIVE002 alone (latency that grows with
    # concurrency, which a busy host also produces) names no cause.
    diagnosis = replay(UNSEEN / "fx-quote-lock-nopid.json")
    lock = next(h for h in diagnosis.hypotheses if h.cause.key == "serialized-inference")
    assert lock.status is Status.NOT_TESTED
    assert "LIVE002" in lock.reason and "--pid" in lock.reason
    assert "did not judge SVC012" in lock.reason


@pytest.mark.parametrize(
    ("name", "sources"),
    [("fx-quote-lock-nopid", "audit + probe"), ("fx-quote-lock", "audit + probe + profile")],
)
def test_todays_audit_of_the_lock_service_names_the_lock(name: str, sources: str) -> None:
    # A recording keeps the audit findings of its day, so the replay above cannot see SVC012.
    # Re-judge the recorded probe (and profile) with the audit as it runs now on the same
    # service's source: SVC012 is static evidence, and with LIVE002 (corroborating, from the
    # probe) two independent sources agree, which confirms it even without --pid.
    recorded = replay(UNSEEN / f"{name}.json")
    today = audit([SERVICES / "fx-quote-lock"], Settings())
    lock_findings = [f for f in today.findings if f.code == "SVC012"]
    assert [f.location.path for f in lock_findings] == ["quoting/service.py"]
    assert "`self._lock` of the one shared `QuoteService`" in lock_findings[0].message
    runs = [replace(c, report=today) if c.kind is CheckKind.AUDIT else c for c in recorded.checks]
    diagnosis = judge(
        recorded.route.symptom,
        runs,
        inputs=recorded.inputs,
        started_at=recorded.started_at,
        duration_s=recorded.duration_s,
    )
    root = diagnosis.root_cause
    assert root is not None and root.cause.key == "serialized-inference", diagnosis.verdict()
    assert root.status is Status.CONFIRMED
    assert f"two independent sources agree ({sources})" in root.reason
    assert "static SVC012" in root.reason


def test_the_lock_recording_names_the_line_that_holds_the_lock() -> None:
    diagnosis = replay(UNSEEN / "fx-quote-lock.json")
    root = diagnosis.root_cause
    assert root is not None
    lock = next(f for f in root.findings if f.code == "PROF014")
    assert "quoting/service.py" in lock.message


# -- the no-event-loop rule, on constructed observations -------------------------------------


def finding(code: str, severity: Severity = Severity.HIGH, value: float = 1.2) -> Finding:
    return Finding(
        code=code,
        name=code.lower(),
        severity=severity,
        message=f"{code} seen",
        location=Location(path="app/main.py", line=3),
        effect=Effect(statistic="ratio", value=value, threshold=0.5, strong=1.0)
        if code.startswith(("LIVE", "PROF"))
        else None,
    )


def by_key(hypotheses: list, key: str):  # type: ignore[no-untyped-def]
    return next(h for h in hypotheses if h.cause.key == key)


NO_LOOP = "py-spy sampled the serving process ... and no thread ran an event loop"


def coverage(no_loop: str | None) -> dict[CheckKind, Coverage]:
    return {
        CheckKind.AUDIT: Coverage(kind=CheckKind.AUDIT),
        CheckKind.PROBE: Coverage(kind=CheckKind.PROBE),
        CheckKind.PROFILE: Coverage(
            kind=CheckKind.PROFILE,
            underpowered={"PROF013": "no thread ran an event loop"},
            no_event_loop=no_loop,
        ),
    }


def test_a_large_live001_confirms_the_loop_only_where_a_loop_may_run() -> None:
    found = {CheckKind.PROBE: [finding("LIVE001")]}
    # the same strong reading: without the profile's word, it stands alone
    unknown = evaluate([Category.SPIKES], found, coverage(None))
    assert by_key(unknown, "event-loop-blocking").status is Status.CONFIRMED
    measured = evaluate([Category.SPIKES], found, coverage(NO_LOOP))
    blocked = by_key(measured, "event-loop-blocking")
    assert blocked.status is Status.REFUTED and "synchronous worker" in blocked.reason
    # the refinement that rests on the loop goes with it
    log = by_key(measured, "blocking-prediction-log")
    assert log.status is Status.REFUTED
    assert not [h for h in measured if h.status is Status.CONFIRMED]


def test_an_async_route_in_the_code_outweighs_a_loopless_sample() -> None:
    # The audit saw blocking work in an async route: the service has a loop, so the sampled
    # process was not the one that serves (a wrong --pid); the usual judgement stands.
    found = {CheckKind.AUDIT: [finding("SVC001")], CheckKind.PROBE: [finding("LIVE001")]}
    hypotheses = evaluate([Category.SPIKES], found, coverage(NO_LOOP))
    assert by_key(hypotheses, "event-loop-blocking").status is Status.CONFIRMED


def sampling(**changes: object) -> LiveSampling:
    base = LiveSampling(
        samples=4 * MIN_LIVE_SAMPLES, loop_thread=False, busy_samples=3 * MIN_LIVE_SAMPLES
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_only_a_busy_loopless_process_without_workers_says_no_loop() -> None:
    said = sampling().no_event_loop()
    assert said is not None and "no thread ran an event loop" in said
    assert sampling(loop_thread=True).no_event_loop() is None
    # a server master whose forked workers serve: the loop may be in them
    assert sampling(children=2).no_event_loop() is None
    # a gevent/eventlet hub is a loop py-spy does not read as one
    assert sampling(green_threads=True).no_event_loop() is None
    # an idle process (the wrong pid, or no load) says nothing about the one that serves
    assert sampling(busy_samples=MIN_LIVE_SAMPLES - 1).no_event_loop() is None
    assert sampling(samples=MIN_LIVE_SAMPLES - 1).no_event_loop() is None


def test_a_low_static_finding_alone_does_not_name_the_root_cause() -> None:
    for severity, named in ((Severity.LOW, False), (Severity.MEDIUM, True)):
        hypotheses = evaluate(
            [Category.SLOW],
            {CheckKind.AUDIT: [finding("DKR002", severity)]},
            [CheckKind.AUDIT, CheckKind.PROBE],
        )
        workers = by_key(hypotheses, "worker-oversubscription")
        assert workers.status is Status.SUSPECTED
        assert workers.eligible_root is named


def test_with_no_loop_a_loop_reading_excludes_no_lock() -> None:
    # LIVE001 excludes a lock (a blocked loop serialises too); in a service with no loop the
    # same reading is a busy pool, and the lock py-spy saw stands
    found = {CheckKind.PROBE: [finding("LIVE001")], CheckKind.PROFILE: [finding("PROF014")]}
    with_loop = evaluate([Category.SLOW], found, coverage(None))
    assert by_key(with_loop, "serialized-inference").status is Status.REFUTED
    without = evaluate([Category.SLOW], found, coverage(NO_LOOP))
    assert by_key(without, "serialized-inference").status is Status.CONFIRMED
    assert without[0].cause.key == "serialized-inference"


def audit_report(routes: list[dict[str, object]], green: list[str] | None = None) -> Report:
    return Report(
        tool="audit",
        measurements={
            "python_files": 3,
            "python_files_parsed": 3,
            "routes": routes,
            "green_threads": green if green is not None else [],
        },
    )


def route(framework: str, path: str = "/predict") -> dict[str, object]:
    return {"method": "POST", "path": path, "framework": framework, "async": False}


def test_the_route_index_says_no_loop_only_for_a_plain_wsgi_service() -> None:
    flask = [route("flask"), route("flask", "/healthz")]
    said = static_no_event_loop(audit_report(flask))
    assert said is not None and "Flask" in said
    # an ASGI framework anywhere in the repo has a loop, even with sync routes
    assert static_no_event_loop(audit_report([*flask, route("fastapi", "/v2")])) is None
    # middleware routes (instrument) carry no framework: an ASGI app is behind them
    assert static_no_event_loop(audit_report([*flask, route("")])) is None
    # gunicorn -k gevent runs Flask handlers on a hub that CPU work blocks
    assert static_no_event_loop(audit_report(flask, ["conf/gunicorn.py:3"])) is None
    # nothing indexed, or an audit that does not say: no claim
    assert static_no_event_loop(audit_report([])) is None
    assert static_no_event_loop(Report(tool="audit", measurements={"routes": flask})) is None
    unread = audit_report(flask)
    unread = replace(unread, measurements={**unread.measurements, "python_files_parsed": 2})
    assert static_no_event_loop(unread) is None


def test_the_audit_reports_each_route_framework_and_green_thread_servers(tmp_path: Path) -> None:
    service = tmp_path / "svc"
    service.mkdir()
    (service / "app.py").write_text(
        "from flask import Flask\n"
        "app = Flask(__name__)\n\n"
        "@app.post('/predict')\n"
        "def predict():\n"
        "    return {}\n"
    )
    report = audit([service], Settings())
    assert {r["framework"] for r in report.measurements["routes"]} == {"flask"}
    assert report.measurements["green_threads"] == []
    assert static_no_event_loop(report) is not None
    (service / "gunicorn.conf.py").write_text('worker_class = "gevent"\n')
    green = audit([service], Settings())
    assert green.measurements["green_threads"] == ["gunicorn.conf.py:1"]
    assert static_no_event_loop(green) is None
