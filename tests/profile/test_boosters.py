"""Profile runs on XGBoost and LightGBM native model files trained here on seeded data.

xgboost and lightgbm are optional extras: without them this module is skipped, unless
INFERMEDIC_REQUIRE_EXTRAS is set (as in CI), where a missing one fails it. The models are
small (2,000 rows x 8 features, 20 trees), profiled concurrently through the real worker with
short timing cells; the one timing assertion compares rows/s at batch 1 with the largest
batch, which for trees differs by tens of times.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from infermedic.errors import InputError, ModelLoadError
from infermedic.model import NotificationLevel, Report
from infermedic.profile import MeasurePlan, profile_model
from infermedic.profile.detect import ModelFormat, detect_model
from infermedic.profile.rules.artifact_version_skew import recorded_skews
from infermedic.profile.worker.inputs import InputFailure, synthesise
from infermedic.profile.worker.loaded import LoadedModel
from infermedic.profile.worker.loaders import load_model
from tests.profile.extras import optional_extra

# `timed`: the profile worker measures within a time budget, and what a phase that the budget
# cuts would find is missing; `make unit` runs these alone, not beside another worker.
pytestmark = pytest.mark.timed

xgboost = optional_extra("xgboost")
lightgbm = optional_extra("lightgbm")

ROWS, WIDTH, TREES = 2000, 8, 20
NAMES = [f"x{i}" for i in range(WIDTH)]


def plan(**overrides: Any) -> MeasurePlan:
    base: dict[str, Any] = {
        "budget_s": 40.0,
        "max_batch": 128,
        "cell_min_s": 0.005,
        "cell_max_s": 0.02,
        "memory_calls": 30,
        "memory_time_cap_s": 0.3,
        "gc_window_s": 0.1,
        "try_options": False,
    }
    base.update(overrides)
    return MeasurePlan(**base)


def training_data(classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    X = rng.standard_normal((ROWS, WIDTH))
    score = X[:, 0] + 0.5 * X[:, 1] - 0.25 * X[:, 2]
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    return X, y


def load(path: Path) -> LoadedModel:
    """The loader the worker runs, called here in-process for the cheap checks."""
    ref = detect_model(str(path))
    return load_model(ref.format, path=ref.path, ref=str(path), method="auto", sys_path=[])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("boosters")
    X, y = training_data()
    frame = pd.DataFrame(X, columns=NAMES)
    X3, y3 = training_data(classes=3)
    params = {"n_estimators": TREES, "max_depth": 4, "random_state": 0}
    xgboost.XGBClassifier(**params).fit(frame, y).save_model(directory / "xgb-binary.ubj")
    xgboost.XGBClassifier(**params).fit(X3, y3).save_model(directory / "xgb-multi.json")
    xgboost.XGBRegressor(**params).fit(X, X[:, 0]).save_model(directory / "xgb-reg.json")
    quiet = {"verbose": -1, "seed": 0, "num_leaves": 15}
    lightgbm.train(
        {"objective": "binary", **quiet}, lightgbm.Dataset(frame, label=y), TREES
    ).save_model(directory / "lgb-binary.txt")
    lightgbm.train(
        {"objective": "multiclass", "num_class": 3, **quiet}, lightgbm.Dataset(X3, label=y3), TREES
    ).save_model(directory / "lgb-multi.txt")
    # Real rows: a Parquet file with the columns shuffled and one the model does not use,
    # and a bare .npy matrix for the model trained without names.
    rng = np.random.default_rng(5)
    rows = pd.DataFrame(rng.standard_normal((256, WIDTH)), columns=NAMES)
    rows.insert(0, "row_id", np.arange(256))
    rows[list(reversed(rows.columns))].to_parquet(directory / "rows.parquet")
    np.save(directory / "rows.npy", rng.standard_normal((256, WIDTH)))
    np.save(directory / "narrow.npy", rng.standard_normal((16, WIDTH - 1)))
    rows.drop(columns=["x3"]).to_parquet(directory / "missing-x3.parquet")
    text = (directory / "xgb-multi.json").read_text()
    (directory / "truncated.json").write_text(text[: len(text) // 2])
    return directory


@pytest.fixture(scope="module")
def reports(model_dir: Path) -> dict[str, Report]:
    jobs: dict[str, tuple[str, str | None, MeasurePlan]] = {
        # Options on: the ONNX option must be measured or say why not, never raise.
        "xgb-binary": ("xgb-binary.ubj", None, plan(try_options=True)),
        "xgb-multi": ("xgb-multi.json", "rows.npy", plan()),
        "lgb-binary": ("lgb-binary.txt", "rows.parquet", plan()),
        "lgb-multi": ("lgb-multi.txt", None, plan(try_options=True)),
    }
    # Four workers share this box's cores: with OpenMP's default of a thread per core, the
    # boosters' spinning threads stall one another for whole scheduler slices (what PROF003
    # measures), and the batch sweep would time the neighbours instead of the model.
    with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(max_workers=4) as pool:
        patch.setenv("OMP_NUM_THREADS", "1")
        futures = {
            name: pool.submit(
                profile_model,
                model_dir / model,
                input=model_dir / data if data else None,
                plan=p,
            )
            for name, (model, data, p) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


NATIVE_THREADS = {"xgboost": "nthread", "lightgbm": "num_threads"}


@pytest.mark.parametrize(
    ("name", "kind", "classifier", "names"),
    [
        ("xgb-binary", "xgboost", True, NAMES),
        ("xgb-multi", "xgboost", True, None),
        ("lgb-binary", "lightgbm", True, NAMES),
        ("lgb-multi", "lightgbm", True, None),
    ],
)
def test_booster_is_loaded_and_swept(
    reports: dict[str, Report], name: str, kind: str, classifier: bool, names: list[str] | None
) -> None:
    report = reports[name]
    measurements = report.measurements
    assert measurements["status"] == "complete", [n.message for n in report.notifications]
    load = measurements["load"]
    assert (load["kind"], load["n_features"], load["is_classifier"]) == (kind, WIDTH, classifier)
    assert load["feature_names"] == names
    cells = measurements["batch-sweep"]["cells"]
    assert [c["batch"] for c in cells][:3] == [1, 2, 4]
    assert cells[-1]["rows_per_s"] > cells[0]["rows_per_s"]
    # A classifier's parity carries label agreement: here, the same input twice.
    assert measurements["determinism"]["max_abs_diff"] == 0.0
    assert measurements["determinism"]["label_agreement"] == 1.0
    # Both libraries run trees on an OpenMP pool, which threadpoolctl limits.
    rows = measurements["threads"]["rows"]
    openmp = [r for r in rows if r["dimension"] == "blas/openmp threads"]
    assert {r["value"] for r in openmp} >= {1}
    assert sum(r["as_loaded"] for r in openmp) == 1
    # ... and the library's own setting is swept too, under the name users change.
    native = [r for r in rows if r["dimension"] == f"{kind} " + NATIVE_THREADS[kind]]
    assert {r["value"] for r in native} >= {1} and sum(r["as_loaded"] for r in native) == 1
    assert {"summary", "batch-sweep", "threads"} <= {t.key for t in report.tables}
    assert "PROF012" not in codes(report)


def test_multiclass_output_has_a_column_per_class(reports: dict[str, Report]) -> None:
    assert reports["xgb-multi"].measurements["first-call"]["output_shape"] == [8, 3]
    assert reports["lgb-multi"].measurements["first-call"]["output_shape"] == [8, 3]
    assert reports["xgb-binary"].measurements["first-call"]["output_shape"] == [8]


def test_xgboost_records_the_version_it_was_saved_with(reports: dict[str, Report]) -> None:
    for name in ("xgb-binary", "xgb-multi"):
        load = reports[name].measurements["load"]
        assert load["saved_with"] == {"xgboost": xgboost.__version__}
        assert load["loaded_with"]["xgboost"] == xgboost.__version__


def test_lightgbm_format_version_is_not_passed_off_as_a_library_version(
    reports: dict[str, Report],
) -> None:
    report = reports["lgb-binary"]
    assert report.measurements["load"]["saved_with"] == {}
    notes = [n.message for n in report.notifications if n.level is NotificationLevel.NOTE]
    assert any("version=v4" in m and "not the LightGBM version" in m for m in notes), notes


def test_synthesised_rows_follow_the_model(reports: dict[str, Report]) -> None:
    named = reports["xgb-binary"].measurements["input"]
    assert named["source"] == "synthetic"
    assert named["description"] == f"as a DataFrame of the model's {WIDTH} feature names"
    # LightGBM's Column_0, Column_1 ... for unnamed training data are not feature names.
    unnamed = reports["lgb-multi"].measurements["input"]
    assert unnamed["description"] == f"from the model's width ({WIDTH} features)"


def test_parquet_columns_are_matched_by_name_and_extras_named(reports: dict[str, Report]) -> None:
    sample = reports["lgb-binary"].measurements["input"]
    assert sample["source"] == "file"
    assert sample["rows"] == 256
    assert "1 column(s) the model does not use: row_id" in sample["description"]


def test_npy_rows_feed_a_model_without_names(reports: dict[str, Report]) -> None:
    sample = reports["xgb-multi"].measurements["input"]
    assert (sample["source"], sample["rows"], sample["description"]) == ("file", 256, "rows.npy")


@pytest.mark.parametrize("name", ["xgb-binary", "lgb-multi"])
def test_options_on_a_booster_classifier_are_measured_or_explained(
    reports: dict[str, Report], name: str
) -> None:
    report = reports[name]
    assert report.measurements["status"] == "complete"
    options = {o["name"]: o for o in report.measurements["options"]["options"]}
    float32 = options["float32 inputs"]
    assert float32["status"] == "measured", float32
    assert "label_agreement" in float32["parity"]  # the objective made it a classifier
    onnx = options["onnxruntime (onnxmltools)"]
    if find_spec("onnxmltools") is None:  # the xgboost extra brings it; without, a reason
        notes = [n.message for n in report.notifications]
        assert any(onnx["reason"] in m and "onnxruntime" in m for m in notes), notes
        assert "onnxmltools" in onnx["reason"]
        return
    # Converted, run by ONNX Runtime on float32 rows, compared as probabilities and labels.
    assert onnx["status"] == "measured", onnx
    assert onnx["parity"]["max_abs_diff"] < 1e-4
    assert onnx["parity"]["label_agreement"] == 1.0
    assert all(cell["speedup"] for cell in onnx["cells"])


@pytest.fixture(scope="module")
def failures(model_dir: Path) -> dict[str, Any]:
    def attempt(model: str, data: str | None) -> Any:
        try:
            return profile_model(
                model_dir / model, input=model_dir / data if data else None, plan=plan()
            )
        except Exception as exc:  # the test inspects what was raised
            return exc

    runs = {
        "narrow": ("xgb-binary.ubj", "narrow.npy"),
        "missing-column": ("lgb-binary.txt", "missing-x3.parquet"),
        "truncated": ("truncated.json", None),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(attempt, *args) for name, args in runs.items()}
        return {name: future.result() for name, future in futures.items()}


def test_input_of_the_wrong_width_is_an_input_error(failures: dict[str, Any]) -> None:
    error = failures["narrow"]
    assert isinstance(error, InputError), error
    assert f"{WIDTH - 1} columns but the model expects {WIDTH} features" in str(error)


def test_input_lacking_a_feature_column_names_it(failures: dict[str, Any]) -> None:
    error = failures["missing-column"]
    assert isinstance(error, InputError), error
    assert "lacks the model's feature column(s): x3" in str(error)


def test_truncated_model_file_is_a_load_error(failures: dict[str, Any]) -> None:
    error = failures["truncated"]
    assert isinstance(error, ModelLoadError), error
    assert "XGBoost cannot load the model" in str(error)
    assert "Stack trace" not in str(error)


def test_files_are_detected_by_content(model_dir: Path, tmp_path: Path) -> None:
    assert detect_model(str(model_dir / "lgb-binary.txt")).format is ModelFormat.LIGHTGBM
    assert detect_model(str(model_dir / "xgb-multi.json")).format is ModelFormat.XGBOOST
    # A UBJSON model under another name is still recognised by its `learner` header.
    renamed = tmp_path / "model.bin"
    renamed.write_bytes((model_dir / "xgb-binary.ubj").read_bytes())
    assert detect_model(str(renamed)).format is ModelFormat.XGBOOST
    other = tmp_path / "config.json"
    other.write_text(json.dumps({"learning_rate": 0.1}))
    with pytest.raises(ModelLoadError, match="cannot tell what kind of model"):
        detect_model(str(other))


def test_regression_objective_is_not_a_classifier(model_dir: Path) -> None:
    model = load(model_dir / "xgb-reg.json")
    assert (model.is_classifier, model.n_features) == (False, WIDTH)


def test_an_older_xgboost_version_in_the_file_is_a_skew(model_dir: Path, tmp_path: Path) -> None:
    document = json.loads((model_dir / "xgb-reg.json").read_text())
    document["version"] = [2, 1, 4]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(document))
    model = load(older)
    assert model.saved_with == {"xgboost": "2.1.4"}
    assert recorded_skews(model.saved_with, model.loaded_with) == {
        "xgboost": {"saved_with": "2.1.4", "loaded_with": xgboost.__version__}
    }


def test_categorical_features_are_not_synthesised_as_numbers(tmp_path: Path) -> None:
    X, y = training_data()
    frame = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
    frame["colour"] = pd.Categorical(np.array(["red", "green", "blue"])[y % 3])
    xgboost.XGBClassifier(n_estimators=3, enable_categorical=True).fit(frame, y).save_model(
        tmp_path / "categorical.json"
    )
    model = load(tmp_path / "categorical.json")
    assert model.categorical_features == ("colour",)
    with pytest.raises(InputFailure, match="colour as categories"):
        synthesise(model, 8)
