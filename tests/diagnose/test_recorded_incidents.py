"""The judge on recorded incidents: real demo runs on a busy host, replayed.

A change to the judgement shows here as a changed verdict on real measurements, not as a
re-run of thirteen services. The expectation for each recording is exact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infermedic.demo.runner import EXPECTED_CAUSE
from infermedic.diagnose import replay
from infermedic.diagnose.hypotheses import Status

BUSY = Path(__file__).resolve().parents[1] / "fixtures" / "incidents" / "busy_host"

# scenario -> (root cause named on this recording, its status). None: no root cause named,
# because the only measured evidence was one timing effect on a host whose other processes
# held ~1.5 of 2 cores (the verdict says so), and no second source agreed.
RECORDED: dict[str, tuple[str | None, str | None]] = {
    "healthy": (None, None),
    "blocking-predict": ("event-loop-blocking", "confirmed"),
    "load-per-request": ("model-load-per-request", "suspected"),
    "explainer-per-request": ("explainer-per-request", "confirmed"),
    "blocking-log": ("blocking-prediction-log", "confirmed"),
    "slow-upstream": ("slow-dependency", "suspected"),
    "memory-leak": ("memory-leak", "confirmed"),
    "cold-start": (None, None),
    "preprocessing-skew": ("preprocessing-skew", "confirmed"),
    "input-drift": ("input-drift", "confirmed"),
    "version-mismatch": ("model-version-mismatch", "confirmed"),
    "no-validation": ("missing-input-validation", "confirmed"),
    "global-lock": (None, None),
}


@pytest.mark.parametrize("scenario", sorted(RECORDED))
def test_a_busy_host_recording_replays_to_its_verdict(scenario: str) -> None:
    diagnosis = replay(BUSY / f"{scenario}.json")
    root = diagnosis.root_cause
    expected_key, expected_status = RECORDED[scenario]
    assert (root.cause.key if root else None) == expected_key, diagnosis.verdict()
    assert (root.status.value if root else None) == expected_status
    # never a wrong cause: what is named is the planted one
    assert expected_key in (None, EXPECTED_CAUSE[scenario])
    assert any(c.host is not None and c.host.noisy for c in diagnosis.checks)
    if root is None:
        assert "not established" in diagnosis.verdict() or "No root cause" in diagnosis.verdict()


def test_nothing_is_confirmed_on_the_healthy_recording() -> None:
    diagnosis = replay(BUSY / "healthy.json")
    assert not [h for h in diagnosis.hypotheses if h.status is Status.CONFIRMED]


def test_a_lone_noisy_timing_effect_is_suspected_and_says_why() -> None:
    diagnosis = replay(BUSY / "global-lock.json")
    lock = next(h for h in diagnosis.hypotheses if h.cause.key == "serialized-inference")
    assert lock.status is Status.SUSPECTED and lock.noisy
    assert "noisy host" in lock.reason and "cores" in lock.reason
