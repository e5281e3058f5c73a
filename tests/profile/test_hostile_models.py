"""Hostile models through the real CLI: children that outlive the worker, unbounded memory,
outputs that are not one per row, and JSON bodies with text for a categorical pipeline.

The models are written here into a temporary module (MODULE:ATTR) and run by
`python -m infermedic profile` as a user runs it. Time margins are wide: these check that a
budget holds at all (the defect was 130 s for a 20 s budget, or forever), not how tightly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import psutil
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

# `timed`: the profile worker measures within a time budget, and what a phase that the budget
# cuts would find is missing; `make unit` runs these alone, not beside another worker.
pytestmark = pytest.mark.timed

REPO = Path(__file__).resolve().parents[2]

MODELS = '''
"""Hostile models for the profile tests."""
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np

def record(pid):
    with open(os.environ["HOSTILE_PIDS"], "a") as handle:
        handle.write(f"{pid}\\n")


class Base:
    n_features_in_ = 4


class SleepingChild(Base):
    """Starts a sleeping child process on its first call, then answers normally."""

    started = False

    def predict(self, X):
        if not self.started:
            self.started = True
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            record(child.pid)
        return np.asarray(X, dtype=float).sum(axis=1)


def _daemon():
    # fork, setsid, fork again: the grandchild leaves the worker's session and group, and
    # its parent exits at once, so nothing in the worker's tree leads to it
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            record(os.getpid())
            time.sleep(600)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)


class SetsidThenHang(Base):
    def predict(self, X):
        _daemon()
        time.sleep(600)


class SetsidThenAnswer(Base):
    """Leaves a daemon behind and finishes normally: the run completes, the daemon dies."""

    started = False

    def predict(self, X):
        if not self.started:
            self.started = True
            _daemon()
        return np.asarray(X, dtype=float).sum(axis=1)


def _sleep():
    record(os.getpid())
    time.sleep(600)


class PoolLeftRunning(Base):
    started = False

    def predict(self, X):
        if not self.started:
            self.started = True
            context = multiprocessing.get_context("fork")
            self.children = [context.Process(target=_sleep) for _ in range(2)]
            for child in self.children:
                child.start()
        return np.asarray(X, dtype=float).sum(axis=1)


class Hog(Base):
    def predict(self, X):
        hoard = []
        while True:
            hoard.append(np.ones(1 << 23, dtype=np.uint8))  # 8 MiB, every page touched


class OnePerBatch(Base):
    """One number for the whole batch: constant time, so rows/s grows with the batch."""

    def predict(self, X):
        time.sleep(0.001)
        return np.asarray([float(np.asarray(X)[0, 0])])


class ShapeByBatch(Base):
    """Right for small batches, a fixed-length answer for large ones."""

    def predict(self, X):
        rows = len(X)
        return np.zeros(rows if rows < 16 else 3)


class TextScores(Base):
    def predict_proba(self, X):
        return np.asarray([["high", "low"]] * len(X))


sleeping_child = SleepingChild()
setsid_then_hang = SetsidThenHang()
setsid_then_answer = SetsidThenAnswer()
pool_left_running = PoolLeftRunning()
hog = Hog()
one_per_batch = OnePerBatch()
shape_by_batch = ShapeByBatch()
text_scores = TextScores()
'''


@dataclass(frozen=True, kw_only=True)
class Run:
    result: subprocess.CompletedProcess[str]
    report: dict[str, Any] | None
    wall_s: float
    pids: list[int]  # what the model recorded starting

    def messages(self, level: str) -> list[str]:
        assert self.report is not None, self.result.stderr
        return [n["message"] for n in self.report["notifications"] if n["level"] == level]


RUNS: dict[str, tuple[str, ...]] = {
    "setsid_then_hang": ("--budget", "20"),
    "sleeping_child": ("--budget", "20"),
    "pool_left_running": ("--budget", "20"),
    "setsid_then_answer": ("--budget", "30", "--max-batch", "8"),
    "hog": ("--budget", "60", "--memory-limit", "400"),
    "one_per_batch": ("--budget", "40", "--max-batch", "64"),
    "shape_by_batch": ("--budget", "40", "--max-batch", "64"),
    "text_scores": ("--budget", "40", "--max-batch", "64"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every hostile model through the CLI once, a few at a time; afterwards, whatever the
    tests said, no process a model recorded is left running."""
    models = tmp_path_factory.mktemp("hostile")
    (models / "hostile_models.py").write_text(MODELS)
    before = _descendants()
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {attr: pool.submit(_profile, models, attr, args) for attr, args in RUNS.items()}
        done = {attr: future.result() for attr, future in futures.items()}
    done["__new_descendants__"] = Run(  # what the test process gained, as a pseudo-run
        result=subprocess.CompletedProcess([], 0),
        report=None,
        wall_s=0.0,
        pids=sorted(_descendants() - before),
    )
    try:
        yield done
    finally:
        for run in done.values():
            for pid in run.pids:
                if _alive(pid):
                    os.kill(pid, 9)


def _profile(models: Path, attr: str, args: tuple[str, ...]) -> Run:
    """Run the CLI on hostile_models:ATTR as a user would."""
    out = models / f"{attr}.json"
    pids = models / f"{attr}.pids"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "HOSTILE_PIDS": str(pids),
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "infermedic",
            "profile",
            f"hostile_models:{attr}",
            "--path",
            str(models),
            "--quick",
            "--no-options",
            "--format",
            "json",
            "--output",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=models,
        env=env,
    )
    wall = time.monotonic() - started
    return Run(
        result=result,
        report=json.loads(out.read_text()) if out.exists() else None,
        wall_s=wall,
        pids=[int(line) for line in pids.read_text().split()] if pids.exists() else [],
    )


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True) if _alive(p.pid)}


@pytest.mark.parametrize("attr", ["setsid_then_hang", "sleeping_child", "pool_left_running"])
def test_no_process_the_model_starts_outlives_the_run(runs: dict[str, Run], attr: str) -> None:
    run = runs[attr]
    assert run.report is not None, run.result.stderr
    # the budget, then the kill, plus the CLI's own start-up on a loaded host
    assert run.wall_s < 20 + 30, run.wall_s
    assert run.pids, "the model never started its child"
    assert not [pid for pid in run.pids if _alive(pid)]
    assert run.report["measurements"]["worker"]["leftover_processes"] >= 1
    assert any("were killed with it" in m for m in run.messages("note"))


def test_the_test_process_has_no_new_descendants_after_the_runs(runs: dict[str, Run]) -> None:
    assert runs["__new_descendants__"].pids == []


def test_a_hang_after_a_setsid_daemon_is_killed_at_the_budget(runs: dict[str, Run]) -> None:
    run = runs["setsid_then_hang"]
    assert run.result.returncode == 2, run.result.stderr
    assert run.report is not None and run.report["measurements"]["worker"]["timed_out"] is True
    assert any("budget" in m for m in run.messages("error"))


def test_a_daemon_left_by_a_finished_run_is_killed_and_said(runs: dict[str, Run]) -> None:
    run = runs["setsid_then_answer"]
    assert run.report is not None, run.result.stderr
    assert run.report["measurements"]["worker"]["timed_out"] is False
    assert run.pids and not [pid for pid in run.pids if _alive(pid)]
    assert any("were killed with it" in m for m in run.messages("note"))


def test_unbounded_allocation_stops_at_the_memory_limit_and_says_so(runs: dict[str, Run]) -> None:
    run = runs["hog"]
    assert run.result.returncode == 2, run.result.stderr
    assert run.report is not None
    worker = run.report["measurements"]["worker"]
    assert worker["memory_exceeded"] is True and worker["timed_out"] is False
    assert worker["memory_limit_bytes"] == 400 << 20
    assert worker["memory_limit_source"] == "--memory-limit"
    errors = run.messages("error")
    assert any("memory limit of 400 MiB (--memory-limit)" in m for m in errors), errors
    assert run.report["measurements"]["status"] == "failed"


def test_the_default_memory_limit_is_reported(runs: dict[str, Run]) -> None:
    run = runs["setsid_then_answer"]
    assert run.report is not None
    worker = run.report["measurements"]["worker"]
    assert worker["memory_limit_source"].startswith("default: 75% of")
    assert 0 < worker["memory_limit_bytes"] < psutil.virtual_memory().total
    assert worker["memory_exceeded"] is False


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("one_per_batch", "predict returned 1 output row(s) for batches of 2, 4, 8"),
        ("shape_by_batch", "predict returned 3 output row(s) for batches of 16, 32"),
        ("text_scores", "predict_proba returned text values such as 'high'"),
    ],
)
def test_invalid_outputs_are_named_and_batching_is_not_claimed(
    runs: dict[str, Run], attr: str, expected: str
) -> None:
    run = runs[attr]
    assert run.report is not None, run.result.stderr
    assert run.result.returncode == 2
    errors = run.messages("error")
    assert any(expected in m and "PROF001" in m for m in errors), errors
    assert "PROF001" not in {f["code"] for f in run.report["findings"]}
    assert run.report["measurements"]["outputs_valid"] is False


@pytest.fixture(scope="module")
def categorical_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """A ColumnTransformer pipeline (one-hot text and category columns, scaled numbers)
    profiled on JSON bodies of each common shape holding text, through the CLI."""
    directory = tmp_path_factory.mktemp("categorical")
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 300),
            "income": rng.normal(5e4, 1e4, 300),
            "plan": rng.choice(["basic", "pro", "team"], 300),
            "region": pd.Categorical(rng.choice(["eu", "us"], 300)),
        }
    )
    columns = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
            ("num", StandardScaler(), ["age", "income"]),
        ]
    )
    pipeline = Pipeline([("columns", columns), ("clf", LogisticRegression())])
    model = directory / "churn.joblib"
    joblib.dump(pipeline.fit(frame, (frame["age"] > 40).astype(int)), model)

    def profile(shape: str) -> dict[str, Any]:
        body = directory / f"{shape}.json"
        body.write_text(json.dumps(BODIES[shape]))
        out = directory / f"{shape}-report.json"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "infermedic",
                "profile",
                str(model),
                "--input",
                str(body),
                "--quick",
                "--budget",
                "60",
                "--format",
                "json",
                "--output",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=REPO,
        )
        assert out.exists(), result.stderr
        report: dict[str, Any] = json.loads(out.read_text())
        return report

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(BODIES, pool.map(profile, BODIES), strict=True))


BODIES = {
    "instances": {
        "instances": [
            {"age": 33, "income": 41000.5, "plan": "pro", "region": "eu"},
            {"age": 51, "income": 62000, "plan": None, "region": "us"},
        ]
    },
    "value-lists": {"instances": [[33, 41000.5, "pro", "eu"], [51, 62000, "team", "us"]]},
    "columns": {"inputs": {"age": [33], "income": [41000.5], "plan": ["pro"], "region": ["eu"]}},
}


@pytest.mark.parametrize("shape", sorted(BODIES))
def test_json_bodies_with_text_profile_a_categorical_pipeline(
    categorical_runs: dict[str, dict[str, Any]], shape: str
) -> None:
    report = categorical_runs[shape]
    errors = [n["message"] for n in report["notifications"] if n["level"] == "error"]
    # text columns once crashed the worker with "Cannot interpret '<StringDtype>' as a data
    # type" in the options phase
    assert not [m for m in errors if "died" in m or "data type" in m], errors
    measurements = report["measurements"]
    assert measurements["input"]["source"] == "request-body"
    assert measurements["first-call"]["output_invalid"] == []
    assert "batch-sweep" in measurements
    assert measurements["status"] in {"complete", "partial"}
