"""`diagnose` on held-out services written unlike the demo: each must get its planted root cause.

The cases live in `tests/fixtures/diagnose_cases/<case>/` (a small service repository plus a
`case.toml`); `bench/diagnose/run_cases.py` serves each one on 127.0.0.1, runs
`python -m infermedic diagnose` on it as a user would, stops it and scores the JSON verdict.
These tests assert each case's real expectation: the root cause named, confirmed by
measurement where the case says so, and nothing confirmed on a healthy service.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from infermedic.diagnose.hypotheses import CAUSES

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "tests" / "fixtures" / "diagnose_cases"
HARNESS = ROOT / "bench" / "diagnose" / "run_cases.py"
# Small live checks keep the module's runtime reasonable on a 2-core box.
DURATION_S = 4.0
RATE = 15.0


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("heldout_run_cases", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


harness = _harness()
CASE_NAMES = sorted(p.parent.name for p in CASES_DIR.glob("*/case.toml"))


def test_the_set_is_large_and_varied() -> None:
    cases = harness.load_cases()
    healthy = [c for c in cases if c.healthy]
    assert len(cases) >= 12
    assert len(healthy) >= 3
    # every expected cause is one the engine knows
    keys = {cause.key for cause in CAUSES}
    assert {c.expected_cause for c in cases if not c.healthy} <= keys
    # each case is a repository of its own: its dependencies are declared
    for case in cases:
        assert (case.directory / "requirements.txt").is_file(), case.name


def _report(root: dict[str, Any] | None, statuses: dict[str, str]) -> dict[str, Any]:
    return {
        "measurements": {
            "diagnosis": {
                "root_cause": root,
                "hypotheses": [{"key": k, "status": s} for k, s in statuses.items()],
                "checks": [{"kind": "probe", "status": "failed", "reason": "no route"}],
            }
        }
    }


def test_scoring_reads_the_verdict_and_counts_false_confirmations() -> None:
    cases = {c.name: c for c in harness.load_cases()}
    faulty = next(c for c in cases.values() if not c.healthy and c.expect_confirmed)
    healthy = next(c for c in cases.values() if c.healthy)
    key = faulty.expected_cause

    suspected = harness.score(
        faulty, _report({"key": key, "status": "suspected"}, {key: "suspected"})
    )
    assert suspected.cause_ok and not suspected.passed
    assert suspected.verdict == "NOT CONFIRMED"
    assert suspected.failed_checks == ("probe: no route",)

    confirmed = harness.score(
        faulty,
        _report({"key": key, "status": "confirmed"}, {key: "confirmed", "gc-pauses": "confirmed"}),
    )
    assert confirmed.passed and confirmed.false_confirmed == ("gc-pauses",)

    noisy = harness.score(healthy, _report(None, {"event-loop-blocking": "confirmed"}))
    assert not noisy.passed and noisy.verdict == "FALSE CONFIRMED"
    # a healthy verdict resting on a failed check is no verdict
    untested = harness.score(healthy, _report(None, {"event-loop-blocking": "refuted"}))
    assert not untested.passed and untested.verdict == "CHECK FAILED"
    clean_report = _report(None, {"event-loop-blocking": "refuted"})
    clean_report["measurements"]["diagnosis"]["checks"] = [{"kind": "probe", "status": "ran"}]
    assert harness.score(healthy, clean_report).passed


# Known gaps, measured on the held-out run (bench/diagnose/results.md): the root cause is
# named, but no measurement confirms it. xfail, not skip: the case still runs, and the day
# it is confirmed the test says so (it passes; an unexpected pass is reported).
KNOWN_GAPS = {
    "price-estimate-flask": "a model loaded per request makes every request uniformly slow: "
    "no tail or stage measurement ties the latency to the load without --pid sampling or "
    "Server-Timing stages, so SVC002 stays suspected",
    "recs-feature-upstream": "the upstream's occasional slowness shows as a p99/p50 tail only "
    "on a quiet host; on a busy one the tail is noise and LIVE004 cannot corroborate SVC004",
}


def _case_param(name: str) -> object:
    gap = KNOWN_GAPS.get(name)
    if gap is None:
        return name
    return pytest.param(name, marks=pytest.mark.xfail(reason=gap, strict=False))


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("name", [_case_param(n) for n in CASE_NAMES])
def test_diagnose_names_the_planted_cause(name: str) -> None:
    case = harness.load_case(CASES_DIR / name)
    result = harness.run_case(case, duration_s=DURATION_S, rate=RATE)
    detail = (
        f"{name}: expected {result.expected}, got {result.got} ({result.got_status}); "
        f"confirmed {list(result.confirmed)}; failed checks {list(result.failed_checks)}; "
        f"notes {list(result.notes)}"
    )
    assert result.error is None, f"{name}: {result.error}"
    assert result.got == result.expected, detail
    if case.healthy:
        assert not result.confirmed, detail
        assert not result.failed_checks, detail
    elif case.expect_confirmed:
        assert result.got_status == "confirmed", detail
