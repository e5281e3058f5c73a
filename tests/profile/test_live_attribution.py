"""PROF013/PROF014 on recorded py-spy samples: exact findings, named places, the criterion.

Each fixture in tests/fixtures/live/ is a pair of real py-spy recordings (every sample, and
on-CPU samples only) of a small uvicorn + FastAPI service with one planted pattern, with
the source lines the recording touched and the findings and notifications it must give.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from infermedic.model import Finding, Location, Notification
from infermedic.profile.attribution import share_test, summarise, wilson_interval
from infermedic.profile.config import ProfileThresholds
from infermedic.profile.live_results import LivePlace, LiveSummary
from infermedic.profile.live_verdicts import judge
from infermedic.profile.rules.work_in_event_loop_thread import fix_for
from infermedic.profile.stacks import Stack

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "live"
ACTION = "py-spy record --pid 4242 --duration 3 --rate 100 --idle --threads"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def _stacks(data: dict[str, Any], key: str) -> Counter[Stack]:
    frames = data["frames"]
    stacks: Counter[Stack] = Counter()
    for thread, indices, count in data[key]:
        stacks[(thread, tuple(frames[int(i)] for i in indices.split()))] += count
    return stacks


def replay(data: dict[str, Any]) -> tuple[dict[str, Any], list[Finding], list[Notification]]:
    sources = data["sources"]

    def source(path: str, line: int) -> str:
        return str(sources.get(f"{path}:{line}", ""))

    summary = summarise(
        _stacks(data, "all"), _stacks(data, "active"), source=source, root=data["root"]
    )
    findings, notes = judge(
        summary, ProfileThresholds(), location=Location(endpoint="PID 4242"), action=ACTION
    )
    return summary, findings, notes


def observed(findings: list[Finding], notes: list[Notification]) -> dict[str, Any]:
    """What a fixture's `expect` holds: every finding and every rule's notification."""
    return {
        "findings": [
            {
                "code": f.code,
                "path": f.location.path,
                "line": f.location.line,
                "message": f.message,
                "fix": f.fix,
            }
            for f in findings
        ],
        "notifications": [f"{n.level}: {n.message}" for n in notes if n.rule],
    }


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("PROF01*.json")))
def test_recorded_samples_give_exactly_the_expected_findings(name: str) -> None:
    data = load(name)
    _, findings, notes = replay(data)
    assert observed(findings, notes) == data["expect"]
    if name.endswith("_ok.json"):
        assert not findings


def _only(findings: list[Finding], code: str) -> Finding:
    assert [f.code for f in findings] == [code]
    return findings[0]


def test_a_feature_loop_on_the_loop_is_named_and_the_model_call_is_left_alone() -> None:
    summary, findings, _ = replay(load("PROF013_user_function.json"))
    finding = _only(findings, "PROF013")
    top = summary["loop_thread"]["places"][0]
    assert (top["function"], top["site"], top["category"]) == (
        "expand_features",
        "features.py:9",
        "service code",
    )
    assert top["via"] == "predict (app.py:16)"
    assert (finding.location.path, finding.location.line) == ("features.py", 9)
    assert "73% in `expand_features` (features.py:9, service code; 95% CI 67%–77%)" in (
        finding.message
    )
    values = finding.evidence[0].values
    assert values["ci_low"] >= values["threshold"] == 0.2
    assert values["model_on_loop_samples"] == 0 and values["model_off_loop"]["samples"] > 0
    # The model call is in run_in_threadpool already: the fix moves the feature loop.
    assert "run_in_threadpool(expand_features, ...)" in finding.fix
    assert "model.predict" not in finding.fix
    assert "already runs in a worker thread" in finding.fix


def test_a_model_call_on_the_loop_is_what_the_fix_moves() -> None:
    _, findings, _ = replay(load("PROF013_model_on_loop.json"))
    finding = _only(findings, "PROF013")
    assert "in `onloop` (app3.py:28, model compute" in finding.message
    assert "`await run_in_threadpool(model.predict_proba, X)`" in finding.fix
    assert "already runs" not in finding.fix


@pytest.mark.parametrize(
    ("name", "function", "site", "category"),
    [
        ("PROF013_json_in_handler.json", "big_route", "app2.py:34", "serialisation"),
        (
            "PROF013_sqlite_query.json",
            "lookup_history",
            "app2.py:21",
            "blocking I/O, database call or sleep",
        ),
        (
            "PROF013_sleep.json",
            "fetch_features",
            "app3.py:16",
            "blocking I/O, database call or sleep",
        ),
    ],
)
def test_any_work_that_holds_the_loop_is_named(
    name: str, function: str, site: str, category: str
) -> None:
    summary, findings, _ = replay(load(name))
    _only(findings, "PROF013")
    top = summary["loop_thread"]["places"][0]
    assert (top["function"], top["site"], top["category"]) == (function, site, category)
    assert top["samples"] >= 0.5 * summary["loop_thread"]["held_samples"]


def test_a_sleep_counts_while_the_loop_is_off_cpu_in_it() -> None:
    summary, _, _ = replay(load("PROF013_sleep.json"))
    top = summary["loop_thread"]["places"][0]
    assert top["blocked"] > top["on_cpu"]  # time.sleep: off CPU, at a blocking line


def test_the_framework_encoding_a_large_response_is_not_filed_as_framework_work() -> None:
    summary, findings, _ = replay(load("PROF013_framework_encoding.json"))
    finding = _only(findings, "PROF013")
    top = summary["loop_thread"]["places"][0]
    assert (top["function"], top["own_code"], top["category"]) == (
        "TypeAdapter.dump_json",
        False,
        "serialisation",
    )
    assert finding.location.path is None  # no service file to point at
    assert "smaller responses" in finding.fix


def test_an_idle_loop_and_a_gil_starved_loop_are_not_work_on_the_loop() -> None:
    summary, findings, notes = replay(load("PROF013_idle_loop_ok.json"))
    loop = summary["loop_thread"]
    assert not findings and loop["held_samples"] < 0.05 * loop["samples"]
    assert loop["awaiting_samples"] + loop["framework_samples"] > 0.8 * loop["samples"]
    summary, findings, notes = replay(load("PROF013_gil_starved_ok.json"))
    loop = summary["loop_thread"]
    assert not findings and loop["held_samples"] == 0
    assert loop["awaiting_samples"] > 0.7 * loop["samples"]
    starved = [n.message for n in notes if n.rule == "PROF013"]
    assert len(starved) == 1 and "Thread-1 (burn)" in starved[0] and "GIL" in starved[0]


def test_a_tiny_sample_is_not_judged_and_says_so() -> None:
    summary, findings, notes = replay(load("PROF013_tiny_sample_ok.json"))
    assert not findings and summary["loop_thread"]["samples"] < 100
    assert [n.message.split(":")[0] for n in notes if n.rule] == [
        "PROF013 not judged, too few samples",
        "PROF014 not judged",  # no request handler ran in a worker thread
    ]


def test_lock_contention_names_the_waiting_line() -> None:
    _, findings, _ = replay(load("PROF014_lock.json"))
    finding = _only(findings, "PROF014")
    assert "at locked (app3.py:34)" in finding.message
    assert finding.evidence[0].values["ci_low"] >= 0.3


def _wilson_by_hand(hits: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval written out, to check scipy's against."""
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("hits", "n"), [(298, 480), (0, 120), (120, 120), (7, 30)])
def test_wilson_interval_matches_the_formula(hits: int, n: int) -> None:
    assert wilson_interval(hits, n) == pytest.approx(_wilson_by_hand(hits, n), abs=1e-9)


def test_share_test_fires_only_when_the_lower_bound_clears_the_threshold() -> None:
    def verdict(hits: int, n: int) -> str:
        return share_test(hits, n, threshold=0.2, min_samples=100).verdict

    assert verdict(298, 480) == "fires"  # 62%, CI 58–66%
    assert verdict(30, 120) == "inconclusive"  # 25%, CI 18–33%: straddles 20%
    assert verdict(5, 400) == "clear"  # 1%, CI 1–3%
    assert verdict(60, 90) == "underpowered"  # 67%, but 90 samples < 100
    assert share_test(1, 0, threshold=0.2, min_samples=0).share == 0.0


def test_fix_for_a_helper_of_the_route_hands_the_helper_to_a_thread() -> None:
    place = LivePlace(
        function="tokenize",
        site="nlp/text.py:12",
        category="service code",
        own_code=True,
        via="classify (api/routes.py:40)",
        calls=None,
    )
    fix = fix_for(place)
    assert fix.startswith("Move `tokenize` (nlp/text.py:12) off the event loop")
    assert "`await run_in_threadpool(tokenize, ...)` in `classify` (api/routes.py:40)" in fix


FEATURES = '''"""Pure-Python feature expansion, the kind of loop that ends up on an event loop."""


def expand_features(values):
    expanded = []
    for step in range(15000):
        total = 0.0
        for value in values:
            total += (value * step) % 7.0
        expanded.append(total)
    return expanded[: len(values)]
'''

SERVICE = """import numpy as np
from fastapi import FastAPI
from sklearn.linear_model import LogisticRegression
from starlette.concurrency import run_in_threadpool

from features import expand_features

rng = np.random.default_rng(7)
X = rng.standard_normal((300, 4))
model = LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))
app = FastAPI()


@app.get("/livez")
async def livez():
    return {"ok": True}


@app.post("/predict")
async def predict(body: dict):
    rows = expand_features(body["values"])
    proba = await run_in_threadpool(model.predict_proba, [rows])
    return {"score": float(proba[0, 1])}
"""

LAUNCH = """
import socket, sys, uvicorn
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(128)
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config("app:app", log_level="warning", access_log=False)).run(
    sockets=[sock]
)
"""


@pytest.mark.server
@pytest.mark.slow
def test_live_feature_loop_on_the_event_loop_is_named_with_file_and_line(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    import httpx

    from infermedic.profile.live import sample_process

    (tmp_path / "features.py").write_text(FEATURES)
    (tmp_path / "app.py").write_text(SERVICE)
    body_lines = range(6, 12)  # the lines of expand_features' loop body in FEATURES
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = f"http://127.0.0.1:{int(process.stdout.readline())}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/livez", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "service did not start"
            time.sleep(0.1)
        report = sample_process(
            process.pid,
            duration=3.0,
            url=url + "/predict",
            body=json.dumps({"values": [1.0, 2.0, 3.0, 4.0]}).encode(),
            concurrency=3,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    live = report.measurements["live"]
    assert live["load"]["requests"] > 0 and live["load"]["errors"] == 0
    finding = _only(list(report.findings), "PROF013")
    top = live["loop_thread"]["places"][0]
    assert top["function"] == "expand_features" and top["file"] == "features.py"
    assert top["line"] in body_lines
    assert (finding.location.path, finding.location.line) == ("features.py", top["line"])
    assert f"in `expand_features` (features.py:{top['line']}, service code" in finding.message
    assert "run_in_threadpool(expand_features, ...)" in finding.fix
    assert "model.predict" not in finding.fix


SP = "/venv/lib/python3.12/site-packages"
STD = "/usr/lib/python3.12"
SERVER = (
    f"Server.run ({SP}/uvicorn/server.py:86)",
    f"Runner.run ({STD}/asyncio/runners.py:118)",
    f"RequestResponseCycle.run_asgi ({SP}/uvicorn/protocols/http/h11_impl.py:411)",
    f"run_endpoint_function ({SP}/fastapi/routing.py:381)",
)


def _place(*frames: str, source: dict[tuple[str, int], str] | None = None) -> Any:
    from infermedic.profile.attribution import locate
    from infermedic.profile.stacks import parse_frame

    lines = source or {}
    return locate(tuple(parse_frame(f) for f in frames), lambda p, n: lines.get((p, n), ""))


def test_a_launcher_script_above_the_server_is_not_the_place() -> None:
    # `uvicorn.run(app)` at the bottom of main.py sits above every stack of the loop.
    place = _place(
        "<module> (/srv/main.py:90)",
        *SERVER,
        f"serialize_response ({SP}/fastapi/routing.py:358)",
        f"TypeAdapter.dump_json ({SP}/pydantic/type_adapter.py:651)",
    )
    assert place is not None and place.key[0] == "TypeAdapter.dump_json" and not place.own_code
    place = _place("<module> (/srv/main.py:90)", *SERVER, "predict (/srv/main.py:40)")
    assert place is not None and place.key == ("predict", "/srv/main.py", "service code")


def test_handing_a_call_to_the_thread_pool_is_the_frameworks_plumbing() -> None:
    place = _place(
        *SERVER,
        "predict (/srv/main.py:41)",
        f"run_in_threadpool ({SP}/starlette/concurrency.py:34)",
        f"run_sync_in_worker_thread ({SP}/anyio/_backends/_asyncio.py:2778)",
        f"Queue.put ({STD}/queue.py:152)",
    )
    assert place is None


def test_third_party_work_on_the_loop_is_a_library_place() -> None:
    hashing = _place(*SERVER, "login (/srv/auth.py:12)", f"hashpw ({SP}/bcrypt/__init__.py:91)")
    assert hashing is not None and hashing.key == ("login", "/srv/auth.py", "library code")
    # A service installed into site-packages: its own function is still named.
    installed = _place(
        *SERVER,
        f"predict ({SP}/churnsvc/main.py:40)",
        f"expand_features ({SP}/churnsvc/features.py:9)",
    )
    assert installed is not None and installed.key[:1] == ("expand_features",)
    assert installed.key[2] == "library code"
    # Older starlette compresses on the loop: the standard library's gzip doing the work is
    # a place, named with the middleware that called it.
    gzip = _place(
        *SERVER,
        f"GZipResponder.send_with_gzip ({SP}/starlette/middleware/gzip.py:88)",
        f"GzipFile.write ({STD}/gzip.py:289)",
    )
    assert gzip is not None and gzip.key == ("GzipFile.write", f"{STD}/gzip.py", "library code")
    assert gzip.via is not None and gzip.via.function == "GZipResponder.send_with_gzip"
    # The loop's own plumbing in the standard library (logging the access line) is not.
    assert _place(*SERVER, f"StreamHandler.emit ({STD}/logging/__init__.py:1113)") is None


def test_an_off_cpu_line_is_blocking_only_when_its_code_calls_something_that_waits() -> None:
    from infermedic.profile.stacks import parse_frame, waits_in_a_blocking_call

    frame = parse_frame("lookup (/srv/db.py:7)")
    sql = {("/srv/db.py", 7): "    rows = cursor.execute(QUERY, (key,)).fetchall()\n"}
    plain = {("/srv/db.py", 7): "    total += weight * value\n"}
    assert waits_in_a_blocking_call((frame,), lambda p, n: sql.get((p, n), "")) is not None
    assert waits_in_a_blocking_call((frame,), lambda p, n: plain.get((p, n), "")) is None
    # Source not readable (another container): not counted as a blocking call.
    assert waits_in_a_blocking_call((frame,), lambda p, n: "") is None
    network = _place(
        *SERVER,
        "enrich (/srv/features.py:20)",
        f"get ({SP}/requests/api.py:73)",
        f"SocketIO.readinto ({STD}/socket.py:706)",
    )
    assert network is not None and network.key[2] == "blocking I/O, database call or sleep"


def test_a_reading_that_straddles_the_threshold_is_reported_inconclusive() -> None:
    from infermedic.profile.live_verdicts import live_notes

    loop = {"name": "MainThread", "event_loop": True, "samples": 120, "held_samples": 30}
    summary = {"threads": [loop], "loop_thread": loop, "model_off_loop": {"samples": 0}}
    notes = [n for n in live_notes(summary, ProfileThresholds()) if n.rule == "PROF013"]
    assert [n.message for n in notes] == [
        "PROF013 inconclusive: the event-loop thread was held by work in 25% of 120 "
        "loop-thread samples (95% CI 18%–33%), which straddles the 20% threshold; sample "
        "longer (--duration) to decide"
    ]
    context_findings, _ = judge(
        summary, ProfileThresholds(), location=Location(endpoint="PID 1"), action=ACTION
    )
    assert context_findings == []


def test_a_parent_of_server_workers_is_pointed_at_its_workers() -> None:
    from infermedic.profile.live_verdicts import live_notes

    parent = {"name": "MainThread", "event_loop": False, "samples": 300, "category_samples": {}}
    summary = {"threads": [parent], "loop_thread": None, "child_pids": [41, 42]}
    notes = [n.message for n in live_notes(summary, ProfileThresholds()) if n.rule == "PROF013"]
    assert len(notes) == 1 and "no thread ran an asyncio or uvloop event loop" in notes[0]
    assert "2 child process(es), PID 41, 42" in notes[0]


def test_live_verdicts_go_through_the_shared_runner() -> None:
    """`profile --pid` selects, isolates and lists its rules like every other command."""
    from infermedic.profile.live_verdicts import judge_live

    data = load("PROF014_lock.json")
    summary = summarise(
        _stacks(data, "all"),
        _stacks(data, "active"),
        source=lambda path, line: str(data["sources"].get(f"{path}:{line}", "")),
        root=data["root"],
    )
    where = {"location": Location(endpoint="PID 4242"), "action": ACTION}
    both = judge_live(summary, ProfileThresholds(), **where)
    assert both.rules_run == ("PROF013", "PROF014") and both.status()["status"] == "complete"
    only = judge_live(summary, ProfileThresholds(), select=("PROF014",), **where)
    assert only.rules_run == ("PROF014",)
    assert [f.code for f in only.findings] == ["PROF014"]
    assert all(n.rule in {None, "PROF014"} for n in only.notifications)
    ignored = judge_live(summary, ProfileThresholds(), ignore=("lock-contention",), **where)
    assert ignored.rules_run == ("PROF013",) and not ignored.findings
    from infermedic.errors import ConfigError

    with pytest.raises(ConfigError, match="PROF0144"):
        judge_live(summary, ProfileThresholds(), select=("PROF0144",), **where)


def test_a_crashing_live_rule_is_a_notification_and_leaves_the_run_partial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infermedic.profile import rules
    from infermedic.profile.live_verdicts import judge_live
    from infermedic.profile.rules.lock_contention import LockContention
    from infermedic.profile.rules.work_in_event_loop_thread import WorkInEventLoopThread

    class Broken(WorkInEventLoopThread):
        def check(self, observations: Any) -> Any:
            raise ZeroDivisionError("a bug in the rule")

    monkeypatch.setattr(rules, "LIVE_RULES", (Broken, LockContention))
    data = load("PROF014_lock.json")
    summary = summarise(
        _stacks(data, "all"),
        _stacks(data, "active"),
        source=lambda path, line: str(data["sources"].get(f"{path}:{line}", "")),
        root=data["root"],
    )
    outcome = judge_live(
        summary, ProfileThresholds(), location=Location(endpoint="PID 4242"), action=ACTION
    )
    assert outcome.rules_failed == ("PROF013",)
    assert outcome.status() == {"status": "partial", "rules_failed": ["PROF013"]}
    assert any(
        "rule PROF013 crashed: ZeroDivisionError" in n.message for n in outcome.notifications
    )
    assert [f.code for f in outcome.findings] == ["PROF014"]  # the other rule still judged


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("PROF*.json")))
def test_a_live_summary_round_trips(name: str) -> None:
    """Typing the summary drops nothing `summarise` counted, and its JSON reads back."""
    summary, _, _ = replay(load(name))
    typed = LiveSummary.from_summary(summary)
    assert LiveSummary.from_json(typed.to_json()) == typed
    assert LiveSummary.from_report({"measurements": {"live": typed.to_dict()}}) == typed
    assert _holds(typed.to_dict(), summary)


def _holds(typed: Any, raw: Any) -> bool:
    """Every key of `raw` is in `typed` with the same value (a worker thread's record gets
    the loop-only fields too, at their defaults)."""
    if isinstance(raw, dict):
        return isinstance(typed, dict) and all(
            k in typed and _holds(typed[k], v) for k, v in raw.items()
        )
    if isinstance(raw, (list, tuple)):
        return (
            isinstance(typed, (list, tuple))
            and len(typed) == len(raw)
            and all(_holds(t, r) for t, r in zip(typed, raw, strict=True))
        )
    return bool(typed == raw)


def test_a_saved_live_summary_of_another_version_or_format_is_refused() -> None:
    from infermedic.errors import InputError

    name = sorted(p.name for p in FIXTURES.glob("PROF*.json"))[0]
    summary, _, _ = replay(load(name))
    document = json.loads(LiveSummary.from_summary(summary).to_json())
    cases = (({"schema_version": 99}, "schema version 99"), ({"format": "x"}, "not an"))
    for changed, message in cases:
        with pytest.raises(InputError, match=message):
            LiveSummary.from_json(json.dumps({**document, **changed}))
