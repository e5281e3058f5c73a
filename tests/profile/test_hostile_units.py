"""Fast tests of the defences against hostile models and inputs: the memory limit's source,
process-tree tracking, output checks, PROF001's gate, and request bodies with text."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from infermedic.model import Location, Notification, NotificationLevel, Report
from infermedic.profile.config import ProfileThresholds
from infermedic.profile.context import ProfileObservations
from infermedic.profile.engine import ProfileIncomplete, output_problems, raise_if_incomplete
from infermedic.profile.results import ProfileResults
from infermedic.profile.rules.batching_would_help import BatchingWouldHelp
from infermedic.profile.supervise import (
    MIB,
    ProcessTree,
    cgroup_headroom,
    default_memory_limit,
    new_token,
)
from infermedic.profile.worker.inputs import (
    InputFailure,
    Sample,
    encoder_categories,
    frame_from_request,
    prepare_input,
    synthesise,
)
from infermedic.profile.worker.loaded import LoadedModel
from infermedic.profile.worker.outputs import check_output
from infermedic.profile.worker.phases import Budget
from infermedic.profile.worker.thread_sweep import thread_sweep

GIB = 1 << 30


# --- the default memory limit ---------------------------------------------------------------


def test_cgroup_v2_headroom_is_limit_minus_usage(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("4294967296\n")
    (tmp_path / "memory.current").write_text("1073741824\n")
    assert cgroup_headroom(tmp_path) == 3 * GIB


def test_cgroup_unlimited_v2_and_v1_mean_no_headroom_limit(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("max\n")
    v1 = tmp_path / "memory"
    v1.mkdir()
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert cgroup_headroom(tmp_path) is None


def test_cgroup_v1_nested_path_takes_the_tightest_limit(tmp_path: Path) -> None:
    root = tmp_path / "memory"
    nested = root / "kubepods" / "pod1"
    nested.mkdir(parents=True)
    (root / "memory.limit_in_bytes").write_text(str(8 * GIB))
    (root / "memory.usage_in_bytes").write_text(str(1 * GIB))
    (nested / "memory.limit_in_bytes").write_text(str(2 * GIB))
    (nested / "memory.usage_in_bytes").write_text(str(GIB // 2))
    assert cgroup_headroom(tmp_path, "/kubepods/pod1") == GIB + GIB // 2


def test_default_limit_is_a_share_of_the_smaller_of_available_and_cgroup(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text(str(2 * GIB))
    (tmp_path / "memory.current").write_text("0")
    limited = default_memory_limit(tmp_path, available_bytes=16 * GIB, cgroup_path="/")
    assert limited.limit_bytes == int(2 * GIB * 0.75)
    assert "cgroup" in limited.source and "--memory-limit" in limited.source
    roomy = default_memory_limit(tmp_path, available_bytes=1 * GIB, cgroup_path="/")
    assert roomy.limit_bytes == int(GIB * 0.75)
    assert "1.0 GiB available" in roomy.source


def test_default_limit_never_drops_below_a_floor(tmp_path: Path) -> None:
    limit = default_memory_limit(tmp_path, available_bytes=10 * MIB, cgroup_path="/")
    assert limit.limit_bytes == 64 * MIB


# --- the process tree -----------------------------------------------------------------------


def test_tree_finds_a_setsid_orphan_by_its_token_and_kills_it(tmp_path: Path) -> None:
    """A parent starts a child that leaves its session and is orphaned at once: only the
    inherited token leads to it. The tree kills it and leaves this process alone."""
    token = new_token()
    pid_file = tmp_path / "orphan.pid"
    script = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "        time.sleep(600)\n"
        "    os._exit(0)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "INFERMEDIC_WORKER_TOKEN": token}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    orphan_pid = 0
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the orphan never started"
            time.sleep(0.05)
        orphan_pid = int(pid_file.read_text())
        tree = ProcessTree(parent.pid, token)
        assert orphan_pid not in {p.pid for p in psutil.Process(parent.pid).children(True)}
        assert orphan_pid in {p.pid for p in tree.members()}
        parent.kill()
        assert tree.kill_all() >= 1
        parent.wait(timeout=10)
        assert not psutil.pid_exists(orphan_pid) or (
            psutil.Process(orphan_pid).status() == psutil.STATUS_ZOMBIE
        )
        assert psutil.pid_exists(os.getpid())
    finally:
        parent.kill()
        parent.wait(timeout=10)
        if orphan_pid and psutil.pid_exists(orphan_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(orphan_pid, 9)


# --- output checks --------------------------------------------------------------------------


def _check(output: Any, rows: int, method: str = "predict", **kw: Any) -> Any:
    options: dict[str, Any] = {"kind": "object", "classifier": False, **kw}
    return check_output(output, rows, method=method, **options)


def test_one_output_per_row_passes() -> None:
    checked = _check(np.zeros((8, 2)), 8, method="predict_proba")
    assert checked.invalid == () and checked.rows == 8 and checked.shape == (8, 2)


def test_one_output_for_a_whole_batch_is_invalid() -> None:
    checked = _check(np.asarray([0.3]), 64)
    assert checked.rows == 1
    assert checked.invalid == (
        "predict returned 1 output row(s) (shape [1]) for a batch of 64 row(s); each row "
        "needs one output",
    )


def test_a_scalar_output_is_invalid() -> None:
    checked = _check(np.float64(0.5), 4)
    assert checked.rows is None and "one value (0.5) for a batch of 4" in checked.invalid[0]


def test_text_scores_are_invalid_but_text_labels_of_a_classifier_are_not() -> None:
    scores = _check(np.asarray([["a", "b"]] * 3), 3, method="predict_proba")
    assert scores.value_problems == (
        "predict_proba returned text values such as 'a' (predict_proba gives scores)",
    )
    labels = _check(np.asarray(["churn", "stay", "stay"]), 3, classifier=True)
    assert labels.invalid == () and labels.warnings == ()
    unstated = _check(np.asarray(["churn", "stay", "stay"]), 3)
    assert unstated.invalid == ()
    assert "states no classes" in unstated.warnings[0]
    regressor = _check(np.asarray(["1.5"] * 3), 3, kind="sklearn")
    assert regressor.value_problems and "numbers expected" in regressor.value_problems[0]


def test_objects_and_ragged_outputs_are_invalid() -> None:
    objects = _check([{"label": "x", "extra": [1, 2]}] * 2, 2)
    assert "Python objects (list" in objects.value_problems[0]
    ragged = _check([[1.0, 2.0], [1.0]], 2)
    assert ragged.rows is None and "is not one array" in ragged.invalid[0]


def test_output_problems_group_batches_by_what_came_back() -> None:
    first = {"first_s": 0.01, "second_s": 0.001}
    timing = {"median_s": 0.001}
    results = ProfileResults.from_phases(
        {
            "load": {"load_s": 0.1, "kind": "sklearn", "method": "predict", "type": "M"},
            "first-call": {**first, "output_rows": {"1": 1, "8": 1}, "output_value_problems": []},
            "batch-sweep": {
                "cells": [
                    {
                        "batch": b,
                        "timing": timing,
                        "rows_per_s": b / 0.001,
                        "output_rows": 1 if b < 64 else 3,
                        "output_invalid": ["x"],
                    }
                    for b in (1, 2, 4, 64, 128)
                ],
                "stopped": "reached the largest batch",
                "recommended_batch": 128,
            },
        }
    )
    assert output_problems(results) == [
        "predict returned 1 output row(s) for batches of 2, 4, 8 row(s)",
        "predict returned 3 output row(s) for batches of 64, 128 row(s)",
        "one output per row is expected",
    ]
    clean = {"first-call": {**first, "output_rows": {"1": 1, "8": 8}}}
    assert output_problems(ProfileResults.from_phases(clean)) == []


def _sweep(invalid_at: int | None) -> dict[str, Any]:
    cells = []
    for batch in (1, 2, 4, 8, 16, 32, 64):
        median = 0.001  # constant time per call: rows/s grows with the batch
        cells.append(
            {
                "batch": batch,
                "timing": {"median_s": median, "calls": 50},
                "rows_per_s": batch / median,
                "output_rows": 1 if invalid_at is not None and batch >= invalid_at else batch,
                "output_invalid": ["wrong rows"]
                if invalid_at is not None and batch >= invalid_at
                else [],
            }
        )
    return {
        "first-call": {"first_s": 0.01, "second_s": 0.001, "output_invalid": []},
        "batch-sweep": {
            "cells": cells,
            "stopped": "reached the largest batch",
            "recommended_batch": 64,
            "latency_budget_s": None,
        },
    }


def _context(results: dict[str, Any]) -> ProfileObservations:
    return ProfileObservations(
        results=ProfileResults.from_phases(results),
        thresholds=ProfileThresholds(),
        location=Location(path="model.joblib"),
        action="infermedic profile model.joblib",
    )


def test_batching_is_claimed_only_when_every_cell_answers_its_rows() -> None:
    assert list(BatchingWouldHelp().check(_context(_sweep(None))))
    assert list(BatchingWouldHelp().check(_context(_sweep(2)))) == []
    assert list(BatchingWouldHelp().check(_context(_sweep(64)))) == []
    first_invalid = _sweep(None)
    first_invalid["first-call"]["output_invalid"] = ["text scores"]  # type: ignore[index]
    assert list(BatchingWouldHelp().check(_context(first_invalid))) == []


# --- request bodies and pandas dtypes -------------------------------------------------------

RECORD = {"age": 33, "income": 41000.5, "plan": "pro", "region": "eu"}
OTHER = {"age": 51, "income": 62000.0, "plan": "team", "region": "us"}


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [RECORD, OTHER]},
        [RECORD, OTHER],
        {"dataframe_records": [RECORD, OTHER]},
        {"dataframe_split": {"columns": list(RECORD), "data": [list(RECORD.values())] * 2}},
        {"inputs": {key: [RECORD[key], OTHER[key]] for key in RECORD}},
        {"payload": {"instances": [RECORD, OTHER]}},
        {key: [RECORD[key], OTHER[key]] for key in RECORD},
    ],
)
def test_request_bodies_with_text_become_tables(body: Any) -> None:
    frame = frame_from_request(json.loads(json.dumps(body)))
    assert list(frame.columns) == list(RECORD) and len(frame) == 2
    assert frame["age"].dtype.kind == "i" and frame["income"].dtype.kind == "f"
    assert frame["plan"].iloc[0] == "pro"


def test_one_record_and_a_wrapped_record_are_one_row() -> None:
    assert len(frame_from_request(RECORD)) == 1
    assert list(frame_from_request({"customer": RECORD}).columns) == list(RECORD)


def test_value_lists_with_text_keep_each_columns_type() -> None:
    frame = frame_from_request({"instances": [[33, 1.5, "pro"], [51, 2.5, "team"]]})
    assert [frame[c].dtype.kind for c in frame.columns[:2]] == ["i", "f"]
    numbers = frame_from_request({"instances": [[1, 2.5], [3, 4]]})
    assert isinstance(numbers, np.ndarray) and numbers.dtype == np.float64


def test_malformed_bodies_are_input_failures() -> None:
    for body in ([], {"instances": []}, [[1, 2], [3]], [RECORD, [1, 2]]):
        with pytest.raises(InputFailure):
            frame_from_request(body)


@pytest.fixture(scope="module")
def churn_pipeline() -> Pipeline:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, 200),
            "income": rng.normal(5e4, 1e4, 200),
            "plan": rng.choice(["basic", "pro", "team"], 200),
            "region": pd.Categorical(rng.choice(["eu", "us"], 200)),
        }
    )
    columns = ColumnTransformer(
        [
            (
                "cat",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()),
                ["plan"],
            ),
            ("ord", OrdinalEncoder(), ["region"]),
            ("num", StandardScaler(), ["age", "income"]),
        ]
    )
    return Pipeline([("columns", columns), ("clf", LogisticRegression())]).fit(
        frame, (frame["age"] > 40).astype(int)
    )


def _loaded(pipeline: Pipeline) -> LoadedModel:
    return LoadedModel(
        kind="sklearn",
        obj=pipeline,
        method="predict_proba",
        call=pipeline.predict_proba,
        is_classifier=True,
        n_features=4,
        feature_names=tuple(str(n) for n in pipeline.feature_names_in_),
    )


def test_text_and_category_columns_fit_a_pipeline_and_its_float_options(
    churn_pipeline: Pipeline,
) -> None:
    model = _loaded(churn_pipeline)
    raw = frame_from_request({"instances": [RECORD, OTHER]})
    raw["region"] = raw["region"].astype("category")
    raw["age"] = raw["age"].astype("Int64")  # a nullable integer column, as Parquet gives
    data = prepare_input(model, raw)
    sample = Sample(data=data, rows=2, source="request-body", description="body")
    assert model.call(sample.take(2)).shape == (2, 2)
    # these once raised "Cannot interpret '<StringDtype>' as a data type"
    assert sample.as_float32() is None
    assert sample.as_matrix() is None


def test_value_lists_with_text_are_named_by_the_models_features(churn_pipeline: Pipeline) -> None:
    model = _loaded(churn_pipeline)
    data = prepare_input(model, frame_from_request({"instances": [[33, 41000.5, "pro", "eu"]]}))
    assert list(data.columns) == ["age", "income", "plan", "region"]
    assert model.call(data).shape == (1, 2)


def test_synthesised_rows_draw_categories_from_the_fitted_encoders(
    churn_pipeline: Pipeline,
) -> None:
    assert encoder_categories(churn_pipeline) == {
        "plan": ["basic", "pro", "team"],
        "region": ["eu", "us"],
    }
    model = _loaded(churn_pipeline)
    sample = synthesise(model, 32)
    assert set(sample.data["plan"]) <= {"basic", "pro", "team"}
    assert "2 categorical column(s)" in sample.description
    assert model.call(sample.data).shape == (32, 2)  # the strict encoders accept them


# --- runs that did not complete, for diagnose -----------------------------------------------


def _report(status: str, *errors: str) -> Report:
    return Report(
        tool="profile",
        notifications=tuple(Notification(level=NotificationLevel.ERROR, message=m) for m in errors),
        measurements={"status": status, "worker": {"last_phase": "threads"}},
    )


def test_an_incomplete_run_raises_with_its_errors_and_keeps_the_report() -> None:
    complete = _report("complete")
    assert raise_if_incomplete(complete) is complete
    for status in ("failed", "partial"):
        partial = _report(status, "the worker was killed at the 20 s budget during threads")
        with pytest.raises(ProfileIncomplete, match=f"did not complete \\({status}\\): the wor"):
            raise_if_incomplete(partial)
        try:
            raise_if_incomplete(partial)
        except ProfileIncomplete as exc:
            assert exc.report is partial


def test_the_thread_sweep_stops_at_the_deadline_with_what_it_measured() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4))
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    model = LoadedModel(
        kind="sklearn", obj=clf, method="predict_proba", call=clf.predict_proba, n_features=4
    )
    sample = Sample(data=X, rows=64, source="synthetic", description="test")
    spent = Budget(deadline=time.monotonic() - 1, cell_min_s=0.001, cell_max_s=0.01)
    swept = thread_sweep(model, sample, spent, cores=2, batches=[1, 8], onnx_path=None)
    assert swept["rows"] == [] and swept["stopped"] == "the time budget, in pass 1"
    assert swept["settings"] >= 2  # n_jobs settings at least


def test_a_run_where_a_rule_crashed_is_not_complete() -> None:
    """The worker finished, but a rule raised: the report says `partial` (exit 2), never
    `complete` beside a non-empty `rules_failed`."""
    from infermedic.profile.engine import _status
    from infermedic.profile.runner import WorkerOutcome

    sweep = ProfileResults.from_phases(_sweep(None))
    finished = WorkerOutcome(finished=True, results=sweep)
    assert _status(finished) == "complete"
    assert _status(finished, ("PROF003",)) == "partial"
    cut = WorkerOutcome(finished=False, timed_out=True, results=sweep)
    assert _status(cut) == "partial"
    assert _status(WorkerOutcome(finished=False, timed_out=True)) == "failed"
