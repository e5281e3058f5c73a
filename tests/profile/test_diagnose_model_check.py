"""diagnose's model check on inputs the bare model struggles with: a JSON body with text for a
categorical pipeline, a body it cannot take, and models that raise or die.

Real runs: pipelines trained here on seeded data, saved with joblib, measured by the worker
process with the quick plan; `diagnose` is called as the library API.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from infermedic.diagnose import DiagnoseOptions, diagnose
from infermedic.diagnose.hypotheses import CheckKind
from infermedic.diagnose.model import CheckRun, CheckStatus
from infermedic.diagnose.plan import Inputs
from infermedic.model import NotificationLevel
from tests.profile.profile_models import DyingClassifier, RaisingClassifier

# `timed`: the profile worker measures within a time budget, and what a phase that the budget
# cuts would find is missing; `make unit` runs these alone, not beside another worker.
pytestmark = pytest.mark.timed

REPO = Path(__file__).resolve().parents[2]
SYMPTOM = "inference is slow"


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CheckRun]:
    directory = tmp_path_factory.mktemp("diagnose-model")
    rng = np.random.default_rng(13)
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, 300),
            "charges": rng.normal(70, 20, 300),
            "contract": rng.choice(["monthly", "yearly", "two-year"], 300),
            "payment": rng.choice(["card", "bank", "check"], 300),
        }
    )
    target = (frame["tenure"] < 20).astype(int)
    columns = ColumnTransformer(
        [
            ("cat", OneHotEncoder(), ["contract", "payment"]),  # unknown categories raise
            ("num", StandardScaler(), ["tenure", "charges"]),
        ]
    )
    churn = directory / "churn.joblib"
    joblib.dump(
        Pipeline([("columns", columns), ("clf", LogisticRegression())]).fit(frame, target), churn
    )
    X = rng.standard_normal((200, 6))
    y = (X[:, 0] > 0).astype(int)
    raising = directory / "raising.joblib"
    joblib.dump(RaisingClassifier().fit(X, y), raising)
    dying = directory / "dying.joblib"
    joblib.dump(DyingClassifier().fit(X, y), dying)

    body = directory / "request.json"
    body.write_text(
        json.dumps(
            {
                "instances": [
                    {"tenure": 5, "charges": 80.5, "contract": "monthly", "payment": "card"},
                    {"tenure": 40, "charges": 55.0, "contract": "two-year", "payment": "bank"},
                ]
            }
        )
    )
    # A wrapper service's body: fields the bare model has never seen.
    foreign = directory / "foreign.json"
    foreign.write_text(json.dumps({"customer_id": "c-17", "text": "please cancel my plan"}))

    runs = {
        "categorical-body": Inputs(model=str(churn), model_input=body),
        "foreign-body": Inputs(model=str(churn), model_input=foreign),
        "raising": Inputs(model=str(raising)),
        "raising-with-body": Inputs(model=str(raising), model_input=foreign),
        "dying": Inputs(model=str(dying)),
    }
    # A wide budget: on a loaded 2-core host a run that completes in ~10 s can take 60 s,
    # and a run cut at the budget is a failed check (the tests below want complete runs).
    options = DiagnoseOptions(model_budget_s=120.0)

    def model_check(inputs: Inputs) -> CheckRun:
        result = diagnose(SYMPTOM, inputs, options=options)
        return next(c for c in result.checks if c.kind is CheckKind.MODEL)

    import os

    here = os.getcwd()
    os.chdir(REPO)  # the pickles name classes in tests.profile
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            return dict(zip(runs, pool.map(model_check, runs.values()), strict=True))
    finally:
        os.chdir(here)


def test_a_json_body_with_text_measures_a_categorical_pipeline(
    checks: dict[str, CheckRun],
) -> None:
    check = checks["categorical-body"]
    assert check.status is CheckStatus.RAN, check.reason
    report = check.report
    assert report is not None
    assert report.measurements["input"]["source"] == "request-body"
    assert report.measurements["batch-sweep"]["cells"]
    assert report.measurements["status"] == "complete"


def test_a_body_the_model_cannot_take_falls_back_to_rows_from_its_encoders(
    checks: dict[str, CheckRun],
) -> None:
    check = checks["foreign-body"]
    assert check.status is CheckStatus.RAN, check.reason
    report = check.report
    assert report is not None
    warnings = [n.message for n in report.notifications if n.level is NotificationLevel.WARNING]
    assert any("does not fit the bare model" in m for m in warnings), warnings
    assert any("synthesised from its signature instead" in m for m in warnings)
    sample = report.measurements["input"]
    assert sample["source"] == "synthetic"
    assert "categorical column(s) drawn from the fitted encoders" in sample["description"]


def test_a_model_that_raises_is_a_failed_check_with_its_error(
    checks: dict[str, CheckRun],
) -> None:
    for name in ("raising", "raising-with-body"):
        check = checks[name]
        assert check.status is CheckStatus.FAILED, name
        assert check.reason.startswith("ProfileIncomplete: ")
        assert "feature store unavailable" in check.reason
        assert check.findings == ()
    # with a body, both attempts are named
    assert "does not fit the bare model" in checks["raising-with-body"].reason


def test_a_model_whose_worker_dies_is_a_failed_check_with_how_it_ended(
    checks: dict[str, CheckRun],
) -> None:
    check = checks["dying"]
    assert check.status is CheckStatus.FAILED
    assert "worker process died during first-call (exit code 3)" in check.reason
