"""A real MLflow model registry for the version-mismatch scenario, when mlflow is installed.

`build_registry(DIR)` makes a local registry in `DIR` (a SQLite backend, `DIR/mlflow.db`,
and a local artifact root, `DIR/artifacts`: no server process), logs one seeded training run
per version of the scenario's small registry (`templates/app/registry.py`: the same seeds, so
the same models), registers them as versions 1..4 of `churn`, tags the reviewed ones
`validation_status=approved`, points @champion at version 3 and then moves it to version 4,
as the training job did. The scenario's service then loads its model from this registry
(`templates/app/registry_mlflow.py`) and the diagnosis reads it with
`--registry-model churn@champion`.

MLflow creates a new SQLite database by running all its migrations (tens of seconds on a busy
machine); the migrated empty database is kept in the cache, per MLflow version, and copied.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from infermedic.demo.scenarios import Scenario
from infermedic.errors import EngineUnavailable, InputError
from infermedic.model import Notification, NotificationLevel
from infermedic.registry.client import mlflow_environment

__all__ = [
    "REGISTRY_SCENARIOS",
    "DemoRegistry",
    "build_registry",
    "mlflow_missing",
    "registry_skipped",
    "with_mlflow_registry",
]

REGISTRY_SCENARIOS = frozenset({"version-mismatch"})
MODEL_NAME = "churn"
ALIAS = "champion"
PROMOTED = "4"  # where the training job moved @champion (from 3)
PREVIOUS = "3"
REVIEWED = ("1", "2", "3")  # versions that went through the gate (tag validation_status)
ENABLE_HINT = "pip install 'infermedic[registry]'"
_MARKER = ".infermedic-demo-registry"
QUIET_MLFLOW = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class DemoRegistry:
    """A built local registry: where it is and what the diagnosis should ask it."""

    directory: Path
    tracking_uri: str
    model: str  # NAME@ALIAS, for `--registry-model`
    seconds: float  # how long building it took
    # the service imports mlflow and loads its model from the registry before it is ready
    startup_timeout_s: float = 180.0

    @property
    def env(self) -> dict[str, str]:
        """What the scenario's service needs to load its model from this registry."""
        return {"MLFLOW_TRACKING_URI": self.tracking_uri, **QUIET_MLFLOW}


def serving_options(registry: DemoRegistry | None) -> dict[str, Any]:
    """`running_scenario` / `serving_directory` keyword arguments: the registry's environment
    and a start-up deadline that allows for importing mlflow; nothing without a registry."""
    if registry is None:
        return {}
    return {"env": registry.env, "startup_timeout_s": registry.startup_timeout_s}


def mlflow_missing() -> str | None:
    """Why the demo cannot build a registry (mlflow or its SQL store is not importable),
    or None when it can. Imports mlflow: the registry needs it right after anyway."""
    try:
        with _quiet():
            import alembic  # noqa: F401  (MLflow's SQL store migrates with it)
            import mlflow  # noqa: F401
            import mlflow.sklearn  # noqa: F401
            import sqlalchemy  # noqa: F401
    except ImportError as exc:
        return f"{exc.name or 'mlflow'} is not installed"
    return None


def registry_skipped(scenario: Scenario, reason: str) -> Notification:
    """The report's note when the registry part of a scenario did not run."""
    return Notification(
        level=NotificationLevel.NOTE,
        message=f"demo {scenario.name}: the real MLflow registry part was skipped ({reason}); "
        f"the service used its built-in registry. Enable it with `{ENABLE_HINT}`",
    )


def with_mlflow_registry(scenario: Scenario) -> Scenario:
    """The scenario with its service's registry module replaced by the MLflow client."""
    modules = tuple(
        ("registry_mlflow", path) if module == "registry" else (module, path)
        for module, path in scenario.modules
    )
    return replace(scenario, modules=modules, extra_requirements=("mlflow",))


def build_registry(directory: Path, say: Progress | None = None) -> DemoRegistry:
    """Build the local registry in `directory` (an earlier demo registry there is replaced;
    anything else there is never deleted)."""
    from infermedic.demo.templates.app import registry as scenario_registry

    tell = say or (lambda _message: None)
    started = time.perf_counter()
    _clear(directory)
    try:
        directory.mkdir(parents=True)
        (directory / _MARKER).write_text("infermedic demo registry\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot create the demo registry in {directory}: {exc}") from exc
    database = directory / "mlflow.db"
    uri = f"sqlite:///{database.resolve()}"
    with _quiet(), mlflow_environment({"MLFLOW_TRACKING_URI": uri, **QUIET_MLFLOW}):
        import mlflow
        import mlflow.sklearn
        import sklearn

        shutil.copyfile(_empty_database(mlflow.__version__, tell), database)
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = client.create_experiment(
            "churn-training", artifact_location=(directory / "artifacts").resolve().as_uri()
        )
        versions = sorted(scenario_registry.VERSIONS, key=int)
        tell(f"  logging {len(versions)} training runs to the MLflow registry in {directory}")
        for version in versions:
            seed = scenario_registry.VERSIONS[version]
            _log_version(mlflow, experiment, version, seed, sklearn.__version__)
        for version in REVIEWED:
            client.set_model_version_tag(MODEL_NAME, version, "validation_status", "approved")
        client.set_registered_model_alias(MODEL_NAME, ALIAS, PREVIOUS)
        # the training job's promotion: @champion moves to the unreviewed candidate
        client.set_registered_model_alias(MODEL_NAME, ALIAS, PROMOTED)
    return DemoRegistry(
        directory=directory,
        tracking_uri=uri,
        model=f"{MODEL_NAME}@{ALIAS}",
        seconds=time.perf_counter() - started,
    )


def _log_version(mlflow: Any, experiment: str, version: str, seed: int, sklearn: str) -> None:
    from sklearn.metrics import roc_auc_score

    from infermedic.demo.templates.app.churn import FEATURES, TARGET, make_customers, train_model

    model = train_model(seed=seed)
    holdout = make_customers(1000, seed + 10_000)
    scores = model.predict_proba(holdout[list(FEATURES)])[:, 1]
    with mlflow.start_run(experiment_id=experiment, run_name=f"churn-seed-{seed}"):
        mlflow.log_params({"seed": seed, "classifier": "logistic"})
        mlflow.log_metric("val_roc_auc", float(roc_auc_score(holdout[TARGET], scores)))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=MODEL_NAME,
            serialization_format="cloudpickle",
            # given, so MLflow does not spend seconds inferring them
            pip_requirements=[f"scikit-learn=={sklearn}"],
        )
    registered = str(info.registered_model_version)
    if registered != version:  # the registry is fresh: versions are numbered 1, 2, ...
        raise EngineUnavailable(
            f"the demo registry numbered version {version} as {registered}",
            hint="delete the demo's registry directory and run again",
        )


def _empty_database(mlflow_version: str, say: Progress) -> Path:
    """A migrated, empty MLflow database for this MLflow version, from the cache."""
    from infermedic.registry.client import cache_root

    cached = cache_root() / "demo" / f"mlflow-{mlflow_version}.db"
    if cached.is_file():
        return cached
    import mlflow

    say("  creating an empty MLflow database (once per MLflow version; cached)")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent) as scratch:
            fresh = Path(scratch) / "mlflow.db"
            uri = f"sqlite:///{fresh}"
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments()  # creates and migrates the tracking tables
            client.search_registered_models()  # and the registry's
            os.replace(fresh, cached)
    except OSError as exc:
        raise InputError(
            f"cannot write the demo's MLflow database cache {cached.parent}: {exc}",
            hint="set INFERMEDIC_CACHE_DIR to a writable directory",
        ) from exc
    return cached


def _clear(directory: Path) -> None:
    if not directory.exists():
        return
    if not (directory / _MARKER).is_file():
        raise InputError(
            f"{directory} exists and is not a demo registry; not overwriting it",
            hint="choose another --workdir",
        )
    shutil.rmtree(directory)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's own notes (database migrations, "registered model", pickle cautions) are
    not the user's concern here; its errors still raise."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
