"""diagnose with --model: the model artifact measured offline confirms model-level causes.

Real runs: a scikit-learn classifier that keeps every input (a leak), pickled here and
profiled in the worker process by the quick plan, and the CLI as a user runs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from infermedic.diagnose import diagnose
from infermedic.diagnose.hypotheses import CheckKind, Status, check_for_code
from infermedic.diagnose.model import CheckStatus
from infermedic.diagnose.plan import Inputs, plan_checks
from infermedic.diagnose.router import Category
from tests.profile.profile_models import LeakyClassifier

# `timed`: the profile worker measures within a time budget, and what a phase that the budget
# cuts would find is missing; `make unit` runs these alone, not beside another worker.
pytestmark = pytest.mark.timed

REPO = Path(__file__).resolve().parents[2]


def test_offline_profile_codes_come_from_the_model_check_and_live_ones_from_sampling() -> None:
    assert check_for_code("PROF003") is CheckKind.MODEL
    assert check_for_code("PROF005") is CheckKind.MODEL
    assert check_for_code("PROF013") is CheckKind.PROFILE
    assert check_for_code("PROF014") is CheckKind.PROFILE


def test_the_model_check_needs_a_model_and_says_so() -> None:
    without = {c.kind: c for c in plan_checks([Category.MEMORY], Inputs(url="http://x"))}
    assert not without[CheckKind.MODEL].runnable
    assert "--model-path PATH" in without[CheckKind.MODEL].reason
    with_model = {c.kind: c for c in plan_checks([Category.MEMORY], Inputs(model="m.joblib"))}
    assert with_model[CheckKind.MODEL].runnable


@pytest.fixture(scope="module")
def leaky_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((400, 8))
    path = tmp_path_factory.mktemp("model") / "leaky.joblib"
    joblib.dump(LeakyClassifier().fit(X, (X[:, 0] > 0).astype(int)), path)
    return path


def test_a_leaking_model_is_the_confirmed_root_cause_of_growing_memory(
    leaky_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the pickle names a class in tests.profile
    result = diagnose(
        "memory keeps growing until the pod is OOM killed", Inputs(model=str(leaky_model))
    )
    ran = {c.kind: c for c in result.checks}
    assert ran[CheckKind.MODEL].status is CheckStatus.RAN
    assert ran[CheckKind.MODEL].command == f"infermedic profile {leaky_model} --quick"
    root = result.root_cause
    assert root is not None and root.cause.key == "memory-leak"
    assert root.status is Status.CONFIRMED
    assert {f.code for f in root.findings} == {"PROF005"}


def test_cli_accepts_a_model_alone(leaky_model: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "infermedic",
            "diagnose",
            "predictions are wrong",
            "--model-path",
            str(leaky_model),
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
            "--output",
            str(tmp_path / "incident.md"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
    )
    assert result.returncode in {0, 1}, result.stderr
    report = (tmp_path / "incident.md").read_text()
    assert f"infermedic profile {leaky_model} --quick" in report


def test_a_request_body_the_bare_model_cannot_take_falls_back_to_synthesised_rows(
    leaky_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    body = tmp_path / "request.json"
    body.write_text('{"instances": [[1.0, 2.0, 3.0]]}')  # 3 values; the model takes 8
    result = diagnose("memory keeps growing", Inputs(model=str(leaky_model), model_input=body))
    ran = {c.kind: c for c in result.checks}
    assert ran[CheckKind.MODEL].status is CheckStatus.RAN
    report = ran[CheckKind.MODEL].report
    assert report is not None
    messages = [n.message for n in report.notifications]
    assert any(f"--input {body} does not fit the bare model" in m for m in messages), messages
    assert report.measurements["input"]["source"] == "synthetic"
