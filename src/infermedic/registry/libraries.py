"""Library versions on both sides of a deployment: logged with a registered version's
artifact, and pinned by the serving repository."""

from __future__ import annotations

from pathlib import Path

from infermedic.profile import mlflow_model

# Module names `recorded_versions` reports, as the distribution a requirements file pins.
_DISTRIBUTION_OF = {"sklearn": "scikit-learn"}
# Distributions that ship the same library under another name.
_SAME_LIBRARY = {"xgboost-cpu": "xgboost", "mlflow-skinny": "mlflow"}
# Only libraries that load or run the model are compared (not mlflow's own helpers).
COMPARED = frozenset(
    {
        "scikit-learn",
        "xgboost",
        "lightgbm",
        "numpy",
        "scipy",
        "pandas",
        "cloudpickle",
        "skops",
        "onnx",
        "onnxruntime",
        "torch",
    }
)
_REPO_FILES = (
    "requirements.txt",
    "requirements-prod.txt",
    "requirements/prod.txt",
    "pyproject.toml",
)


def logged_libraries(directory: Path) -> dict[str, str]:
    """What an MLflow model directory records (flavours first, then requirement pins), by
    distribution name; {} when it has no readable MLmodel."""
    try:
        document = mlflow_model.read_mlmodel(directory)
    except mlflow_model.MLmodelError:
        return {}
    recorded = mlflow_model.recorded_versions(directory, document)
    return {
        _DISTRIBUTION_OF.get(module, module): version
        for module, version in recorded.items()
        if _DISTRIBUTION_OF.get(module, module) in COMPARED
    }


def repo_pins(repo: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The serving repo's exact pins of the compared libraries, and the file:line of each."""
    from infermedic.audit.deps.parsing import parse_dependency_file

    pins: dict[str, str] = {}
    where: dict[str, str] = {}
    for relpath in _REPO_FILES:
        path = repo / relpath
        if not path.is_file():
            continue
        try:
            parsed = parse_dependency_file(path, relpath, requirements=relpath.endswith(".txt"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # an unreadable file pins nothing; the audit reports it
        if parsed is None:
            continue
        for requirement in parsed.requirements:
            name = _SAME_LIBRARY.get(requirement.name, requirement.name)
            if name in COMPARED and requirement.exact_version and name not in pins:
                pins[name] = requirement.exact_version
                where[name] = f"{relpath}:{requirement.line}"
    return pins, where
