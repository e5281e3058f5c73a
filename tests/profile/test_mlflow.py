"""Profile runs on MLflow model directories saved here by mlflow itself, and broken ones.

mlflow, xgboost and lightgbm are optional extras: without them this module is skipped,
unless INFERMEDIC_REQUIRE_EXTRAS is set (as in CI), where a missing one fails it. Models are
small and trained on seeded data; the directories are written by `mlflow.<flavour>.save_model`,
then some are edited the way a hand-copied or stale artifact would differ.
"""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from infermedic.errors import EngineUnavailable, ModelLoadError
from infermedic.model import Report
from infermedic.profile import MeasurePlan, profile_model
from infermedic.profile.detect import ModelFormat, detect_model
from infermedic.profile.rules.artifact_version_skew import recorded_skews
from infermedic.profile.worker.loaded import LoadedModel, LoadFailure
from infermedic.profile.worker.loaders import load_model
from tests.profile.extras import optional_extra

# `timed`: the profile worker measures within a time budget, and what a phase that the budget
# cuts would find is missing; `make unit` runs these alone, not beside another worker.
pytestmark = pytest.mark.timed

mlflow = optional_extra("mlflow")
xgboost = optional_extra("xgboost")
lightgbm = optional_extra("lightgbm")
cloudpickle = importlib.import_module("cloudpickle")  # an mlflow dependency

ROWS, WIDTH = 2000, 8
NAMES = [f"x{i}" for i in range(WIDTH)]
# Another scikit-learn than the running one, as a stale MLmodel would record it.
OTHER_SKLEARN = "0." + sklearn.__version__

ROW_SCORE = '''"""A python_model saved as code (MLflow's models-from-code)."""
import mlflow.models
import mlflow.pyfunc
import numpy as np
import pandas as pd


class RowScore(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: pd.DataFrame, params=None):
        return np.tanh(model_input.to_numpy(dtype=float)).sum(axis=1)


mlflow.models.set_model(RowScore())
'''


def plan() -> MeasurePlan:
    return MeasurePlan(
        budget_s=40.0,
        max_batch=128,
        cell_min_s=0.005,
        cell_max_s=0.02,
        memory_calls=30,
        memory_time_cap_s=0.3,
        gc_window_s=0.1,
        try_options=False,
    )


def training_frame() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(23)
    frame = pd.DataFrame(rng.standard_normal((ROWS, WIDTH)), columns=NAMES)
    y = (frame["x0"] - 0.5 * frame["x1"] > 0).to_numpy().astype(int)
    return frame, y


def edit_mlmodel(directory: Path, change: Any) -> None:
    path = directory / "MLmodel"
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))


def load(path: Path) -> LoadedModel:
    """The loader the worker runs, called here in-process for the cheap checks."""
    ref = detect_model(str(path))
    return load_model(ref.format, path=ref.path, ref=str(path), method="auto", sys_path=[])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("mlflow")
    frame, y = training_frame()
    with warnings.catch_warnings():
        # mlflow warns while saving (pickle formats, missing input examples, type hints);
        # those are advice to its users, not failures of this test.
        warnings.simplefilter("ignore")
        import mlflow.lightgbm
        import mlflow.pyfunc
        import mlflow.sklearn
        import mlflow.xgboost
        from mlflow.models import infer_signature

        signature = infer_signature(frame)
        # Given pins, mlflow skips inferring them in a subprocess that loads the model.
        numpy_pin = f"numpy=={np.__version__}"
        sklearn_pin = [f"scikit-learn=={sklearn.__version__}", numpy_pin]
        logistic = LogisticRegression().fit(frame, y)
        mlflow.sklearn.save_model(
            logistic,
            directory / "sk-pickle",
            serialization_format="pickle",
            signature=infer_signature(frame, logistic.predict_proba(frame)),
            pip_requirements=sklearn_pin,
        )
        # MLflow 3's default format for scikit-learn: skops, with its trusted-type list.
        mlflow.sklearn.save_model(
            logistic, directory / "sk-skops", signature=signature, pip_requirements=sklearn_pin
        )
        # A lambda pickles only by value, which only cloudpickle writes: loading this one
        # shows a cloudpickle stream, not just a pickle under that name, is read back.
        squashed = make_pipeline(FunctionTransformer(lambda X: np.tanh(X)), LogisticRegression())
        mlflow.sklearn.save_model(
            squashed.fit(frame.to_numpy(), y),
            directory / "sk-cloudpickle",
            serialization_format="cloudpickle",
            signature=signature,
            pip_requirements=[*sklearn_pin, f"cloudpickle=={cloudpickle.__version__}"],
        )
        trees = {"n_estimators": 20, "max_depth": 4, "random_state": 0}
        mlflow.xgboost.save_model(
            xgboost.XGBClassifier(**trees).fit(frame, y),
            directory / "xgb",
            signature=signature,
            pip_requirements=[f"xgboost=={xgboost.__version__}", numpy_pin],
        )
        booster = lightgbm.train(
            {"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": 0},
            lightgbm.Dataset(frame, label=y),
            20,
        )
        lightgbm_pin = [f"lightgbm=={lightgbm.__version__}", numpy_pin]
        mlflow.lightgbm.save_model(
            booster, directory / "lgb", signature=signature, pip_requirements=lightgbm_pin
        )
        mlflow.lightgbm.save_model(
            lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(frame, y),
            directory / "lgb-sklearn",
            serialization_format="cloudpickle",
            pip_requirements=lightgbm_pin,
        )
        code = directory / "row_score.py"
        code.write_text(ROW_SCORE)
        counted = frame.assign(visits=np.arange(ROWS) % 7)
        mlflow.pyfunc.save_model(
            directory / "pyfunc",
            python_model=str(code),
            signature=infer_signature(counted),
            pip_requirements=[f"mlflow=={mlflow.__version__}", numpy_pin],
        )
    shutil.copytree(directory / "sk-pickle", directory / "skewed")
    edit_mlmodel(
        directory / "skewed",
        lambda d: d["flavors"]["sklearn"].update(sklearn_version=OTHER_SKLEARN),
    )
    shutil.copytree(directory / "sk-pickle", directory / "no-pickle")
    (directory / "no-pickle" / "model.pkl").unlink()
    (directory / "corrupt").mkdir()
    (directory / "corrupt" / "MLmodel").write_text("flavors:\n  sklearn: [unclosed\n")
    # A flavour infermedic does not load itself, callable through mlflow.pyfunc only.
    (directory / "h2o").mkdir()
    (directory / "h2o" / "MLmodel").write_text(
        yaml.safe_dump(
            {
                "flavors": {
                    "python_function": {"loader_module": "mlflow.h2o", "data": "model.h2o"},
                    "h2o": {"h2o_version": "3.46.0.6", "data": "model.h2o"},
                }
            }
        )
    )
    # The environment without mlflow: a package of that name that cannot be imported.
    fake = directory / "without-mlflow" / "mlflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'mlflow'\", name='mlflow')\n"
    )
    return directory


@pytest.fixture(scope="module")
def reports(model_dir: Path) -> dict[str, Any]:
    def attempt(name: str, paths: list[Path]) -> Any:
        try:
            return profile_model(model_dir / name, plan=plan(), paths=paths)
        except Exception as exc:  # the test inspects what was raised
            return exc

    runs = {
        "sk-pickle": [],
        "sk-cloudpickle": [],
        "xgb": [],
        "lgb": [],
        "pyfunc": [],
        "skewed": [],
        "no-pickle": [],
        "corrupt": [],
        "h2o": [model_dir / "without-mlflow"],
    }
    # Four workers share this box's cores: with OpenMP's default of a thread per core, the
    # boosters' spinning threads stall one another for whole scheduler slices (what PROF003
    # measures), and the batch sweep would time the neighbours instead of the model.
    with pytest.MonkeyPatch.context() as patch, ThreadPoolExecutor(max_workers=4) as pool:
        patch.setenv("OMP_NUM_THREADS", "1")
        futures = {name: pool.submit(attempt, name, paths) for name, paths in runs.items()}
        return {name: future.result() for name, future in futures.items()}


def codes(report: Report) -> set[str]:
    return {f.code for f in report.findings}


@pytest.mark.parametrize(
    ("name", "kind", "classifier", "width"),
    [
        ("sk-pickle", "sklearn", True, WIDTH),
        ("sk-cloudpickle", "sklearn", True, WIDTH),
        ("xgb", "xgboost", True, WIDTH),
        ("lgb", "lightgbm", True, WIDTH),
        ("pyfunc", "object", False, WIDTH + 1),
    ],
)
def test_flavour_is_loaded_and_profiled_on_signature_rows(
    reports: dict[str, Any], name: str, kind: str, classifier: bool, width: int
) -> None:
    report = reports[name]
    assert isinstance(report, Report), report
    measurements = report.measurements
    assert measurements["status"] == "complete", [n.message for n in report.notifications]
    assert measurements["model"]["format"] == "mlflow"
    load = measurements["load"]
    assert (load["kind"], load["is_classifier"], load["n_features"]) == (kind, classifier, width)
    sample = measurements["input"]
    assert sample["source"] == "synthetic"
    assert sample["description"].startswith(f"from the MLflow signature ({width} columns: x0, ")
    assert any("MLflow signature" in n.message for n in report.notifications)
    cells = measurements["batch-sweep"]["cells"]
    assert cells[-1]["batch"] > 1 and cells[-1]["rows_per_s"] > cells[0]["rows_per_s"]
    assert load["saved_with"]["mlflow"] == mlflow.__version__
    assert load["saved_with"]["python"] == platform.python_version()
    assert "PROF012" not in codes(report), [f.message for f in report.findings]


def test_flavour_library_versions_are_recorded(reports: dict[str, Any]) -> None:
    saved = {
        name: reports[name].measurements["load"]["saved_with"]
        for name in ("sk-pickle", "sk-cloudpickle", "xgb", "lgb")
    }
    assert saved["sk-pickle"]["sklearn"] == sklearn.__version__
    assert saved["sk-cloudpickle"]["cloudpickle"] == cloudpickle.__version__
    assert saved["xgb"]["xgboost"] == xgboost.__version__
    assert saved["lgb"]["lightgbm"] == lightgbm.__version__
    # Pins in requirements.txt count too (only those of libraries that bear on the model).
    assert saved["xgb"]["numpy"] == np.__version__


def test_pyfunc_model_runs_through_mlflow_with_typed_columns(reports: dict[str, Any]) -> None:
    load = reports["pyfunc"].measurements["load"]
    assert load["type"] == "mlflow.pyfunc.PyFuncModel"
    assert load["feature_names"] == [*NAMES, "visits"]
    assert load["loaded_with"]["mlflow"] == mlflow.__version__
    description = reports["pyfunc"].measurements["input"]["description"]
    assert description.endswith("integer inputs drawn from 0-9")


def test_mlmodel_claiming_another_sklearn_is_version_skew(reports: dict[str, Any]) -> None:
    report = reports["skewed"]
    assert isinstance(report, Report), report
    finding = next(f for f in report.findings if f.code == "PROF012")
    assert finding.evidence[0].values["libraries"] == {
        "sklearn": {"saved_with": OTHER_SKLEARN, "loaded_with": sklearn.__version__}
    }
    assert f"scikit-learn {OTHER_SKLEARN} recorded, {sklearn.__version__} loaded" in (
        finding.message
    )


def test_missing_pickle_is_a_load_error_with_a_hint(reports: dict[str, Any]) -> None:
    error = reports["no-pickle"]
    assert isinstance(error, ModelLoadError), error
    assert "names model.pkl" in str(error) and "does not exist" in str(error)
    assert error.hint is not None and "whole directory" in error.hint


def test_corrupt_mlmodel_is_a_load_error_with_a_hint(reports: dict[str, Any]) -> None:
    error = reports["corrupt"]
    assert isinstance(error, ModelLoadError), error
    assert "MLmodel is not valid YAML" in str(error)
    assert error.hint is not None and "MLmodel" in error.hint


def test_unknown_flavour_without_mlflow_says_what_to_install(reports: dict[str, Any]) -> None:
    error = reports["h2o"]
    assert isinstance(error, EngineUnavailable), error
    assert "h2o" in str(error) and "mlflow is not installed" in str(error)
    assert error.hint is not None and "pip install mlflow" in error.hint


def test_directory_without_mlmodel_is_a_load_error(model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="without an MLmodel file") as caught:
        detect_model(str(model_dir / "without-mlflow"))
    assert caught.value.hint is not None


def test_mlmodel_file_stands_for_its_directory(model_dir: Path) -> None:
    ref = detect_model(str(model_dir / "xgb" / "MLmodel"))
    assert (ref.format, ref.path) == (ModelFormat.MLFLOW, str((model_dir / "xgb").resolve()))


def test_unknown_flavour_without_python_function_is_unsupported(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text(yaml.safe_dump({"flavors": {"h2o": {"data": "m.h2o"}}}))
    with pytest.raises(LoadFailure, match="no python_function flavour") as caught:
        load(tmp_path)
    assert caught.value.kind == "unsupported"
    assert caught.value.hint is not None and "sklearn, xgboost, lightgbm and onnx" in (
        caught.value.hint
    )


def test_skops_format_needs_skops(model_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(model_dir / "sk-pickle", tmp_path / "skops")
    (tmp_path / "skops" / "model.pkl").rename(tmp_path / "skops" / "model.skops")
    edit_mlmodel(
        tmp_path / "skops",
        lambda d: d["flavors"]["sklearn"].update(
            pickled_model="model.skops", serialization_format="skops"
        ),
    )
    with pytest.raises(LoadFailure) as caught:
        load(tmp_path / "skops")  # a pickle under a skops name: skops must refuse it
    if find_spec("skops") is None:
        assert caught.value.kind == "engine-unavailable"
        assert caught.value.hint == "pip install skops"
    else:
        assert "skops cannot load model.skops" in str(caught.value)


def test_default_skops_format_loads_with_its_trusted_types(model_dir: Path) -> None:
    flavour = yaml.safe_load((model_dir / "sk-skops" / "MLmodel").read_text())["flavors"]
    if flavour["sklearn"].get("serialization_format") != "skops":
        pytest.skip("this mlflow saves scikit-learn models as pickles by default")
    if find_spec("skops") is None and not os.environ.get("INFERMEDIC_REQUIRE_EXTRAS"):
        pytest.skip("skops (in the mlflow extra) is not installed")
    model = load(model_dir / "sk-skops")
    assert (model.kind, model.method, model.is_classifier) == ("sklearn", "predict_proba", True)
    assert model.n_features == WIDTH


def test_lightgbm_sklearn_api_is_unpickled(model_dir: Path) -> None:
    model = load(model_dir / "lgb-sklearn")
    assert (model.kind, model.method, model.is_classifier) == ("sklearn", "predict_proba", True)
    assert model.saved_with["lightgbm"] == lightgbm.__version__


def test_malformed_signature_is_noted_not_fatal(model_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(model_dir / "xgb", tmp_path / "xgb")
    edit_mlmodel(tmp_path / "xgb", lambda d: d["signature"].update(inputs="[{not json"))
    model = load(tmp_path / "xgb")
    assert model.signature == ()
    assert any("signature is not used" in w for w in model.load_warnings)
    assert model.feature_names == tuple(NAMES)  # the booster's own names still hold


def test_skew_is_exact_for_sklearn_and_major_minor_elsewhere() -> None:
    saved = {"sklearn": "1.9.0", "numpy": "2.4.1", "python": "3.11.2", "pandas": "2.2.3"}
    loaded = {"sklearn": "1.9.1", "numpy": "2.4.6", "python": "3.11.7", "pandas": "3.0.0"}
    assert recorded_skews(saved, loaded) == {
        "pandas": {"saved_with": "2.2.3", "loaded_with": "3.0.0"},
        "sklearn": {"saved_with": "1.9.0", "loaded_with": "1.9.1"},
    }
    assert recorded_skews({"xgboost": "3.2"}, {"xgboost": "3.2.0", "numpy": "2.4.6"}) == {}
