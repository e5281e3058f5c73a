"""`profile --pid` against a real demo service, and the CLI's exit codes and formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from infermedic.cli.app import cli
from infermedic.errors import InputError
from infermedic.profile.live import sample_process

CUSTOMER = {
    "tenure_months": 14,
    "monthly_charges": 70.5,
    "support_calls": 2,
    "age": 41,
    "plan": "standard",
    "region": "north",
}


@pytest.mark.server
@pytest.mark.slow
def test_blocking_predict_scenario_piles_up_in_the_event_loop_thread() -> None:
    from infermedic.demo.service import running_scenario

    with running_scenario("blocking-predict") as service:
        report = sample_process(
            service.pid,
            duration=2.0,
            url=service.endpoint("/predict"),
            body=json.dumps(CUSTOMER).encode(),
            concurrency=3,
        )
    live = report.measurements["live"]
    assert live["load"]["requests"] > 0 and live["load"]["errors"] == 0
    loop = live["loop_thread"]
    assert loop is not None and "MainThread" in loop["name"]
    finding = next(f for f in report.findings if f.code == "PROF013")
    assert finding.evidence[0].values["busy_share"] >= 0.2
    working = {"model compute", "preprocessing and validation"}
    assert sum(loop["category_samples"].get(c, 0) for c in working) > 0
    assert any(frame["category"] in working for frame in loop["top_frames"])


def test_a_pid_that_does_not_exist_is_a_clear_error() -> None:
    # A child that has exited and been reaped: its PID is free (until reused, which is rare).
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    with pytest.raises(InputError, match=f"no process with PID {probe.pid}"):
        sample_process(probe.pid, duration=1.0)


def test_cli_pid_error_exits_2_with_the_reason() -> None:
    result = CliRunner().invoke(cli, ["profile", "--pid", "0"])
    assert result.exit_code != 0
    assert "not a process id" in str(result.exception) or "not a process id" in result.output


def test_cli_writes_a_json_report_with_tables(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 5))
    model = tmp_path / "model.joblib"
    joblib.dump(LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), model)
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli,
        [
            "profile",
            str(model),
            "--quick",
            "--max-batch",
            "16",
            "--no-options",
            "--budget",
            "40",
            "--exit-zero",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["tool"]["command"] == "profile"
    assert data["measurements"]["status"] == "complete"
    assert [c["batch"] for c in data["measurements"]["batch-sweep"]["cells"]][:2] == [1, 2]
    assert {t["key"] for t in data["tables"]} >= {"summary", "batch-sweep", "stages"}


def test_cli_without_model_or_pid_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["profile"])
    assert result.exit_code == 2
