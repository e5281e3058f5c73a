"""Reading an MLflow model directory's own records without mlflow: MLmodel, signature, pins.

The worker loads the sklearn, xgboost, lightgbm and onnx flavours natively, so what MLflow
wrote next to the artifact (the input signature, the library versions it was saved with) is
read here from the files themselves; mlflow is imported only for flavours that need it.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any


class MLmodelError(ValueError):
    """The MLmodel file (or a file it names) is missing or cannot be read."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SignatureColumn:
    """One input of an MLflow signature: a named column, or a tensor (named or not)."""

    name: str | None
    type: str  # a column type ("double", "long", "string", ...), or a tensor's NumPy dtype
    shape: tuple[int, ...] | None = None  # tensors only; -1 marks a free dimension

    @property
    def is_tensor(self) -> bool:
        return self.shape is not None


# Keys of a flavour's `<prefix>_version` entry, mapped to the module name the loader reports.
_FLAVOUR_VERSION_KEYS = {
    "sklearn": "sklearn",
    "xgb": "xgboost",
    "lgb": "lightgbm",
    "pytorch": "torch",
    "onnx": "onnx",
    "cloudpickle": "cloudpickle",
    "python": "python",
}

# Pins in requirements.txt / python_env.yaml that bear on loading and calling the model, by
# distribution name. Others (rich, psutil, ...) are what mlflow's inference added around it.
_MODEL_LIBRARIES = {
    "scikit-learn": "sklearn",
    "xgboost": "xgboost",
    "xgboost-cpu": "xgboost",
    "lightgbm": "lightgbm",
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "cloudpickle": "cloudpickle",
    "skops": "skops",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "torch": "torch",
    "mlflow": "mlflow",
    "mlflow-skinny": "mlflow",
}

_DISTRIBUTIONS = {
    "sklearn": ("scikit-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "mlflow": ("mlflow", "mlflow-skinny"),
}

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#,]+)")


def read_mlmodel(directory: Path) -> dict[str, Any]:
    """The MLmodel document, with at least one flavour, or `MLmodelError` saying why not."""
    import yaml

    path = directory / "MLmodel"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MLmodelError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MLmodelError(f"MLmodel is not valid YAML: {_first_line(exc)}") from exc
    if not isinstance(document, dict):
        raise MLmodelError("MLmodel is not a YAML mapping (is it an MLflow MLmodel file?)")
    flavors = document.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        raise MLmodelError("MLmodel lists no flavours")
    if not all(isinstance(conf, dict) for conf in flavors.values()):
        raise MLmodelError("MLmodel has a flavour entry that is not a mapping")
    return document


def flavour_file(directory: Path, flavour: str, conf: dict[str, Any], key: str) -> Path:
    """The artifact file a flavour names under `key`, which must exist inside `directory`."""
    name = conf.get(key)
    if not isinstance(name, str) or not name:
        raise MLmodelError(f"the {flavour} flavour in MLmodel names no `{key}` file")
    path = directory / name
    if not path.is_file():
        raise MLmodelError(f"MLmodel's {flavour} flavour names {name}, but {path} does not exist")
    return path


def signature_inputs(document: dict[str, Any]) -> tuple[SignatureColumn, ...]:
    """The signature's inputs, () when there is none; `MLmodelError` when it is malformed."""
    signature = document.get("signature")
    if not isinstance(signature, dict) or not signature.get("inputs"):
        return ()
    raw = signature["inputs"]
    try:
        specs = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise MLmodelError(f"the signature's inputs are not JSON: {exc}") from exc
    if not isinstance(specs, list):
        raise MLmodelError("the signature's inputs are not a list")
    columns: list[SignatureColumn] = []
    for spec in specs:
        if not isinstance(spec, dict) or "type" not in spec:
            raise MLmodelError(f"a signature input has no type: {spec!r}")
        name = spec.get("name")
        if spec["type"] == "tensor":
            tensor = spec.get("tensor-spec") or {}
            shape = tensor.get("shape")
            if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
                raise MLmodelError(f"a tensor input has no integer shape: {spec!r}")
            columns.append(
                SignatureColumn(
                    name=str(name) if name is not None else None,
                    type=str(tensor.get("dtype", "float64")),
                    shape=tuple(shape),
                )
            )
        else:
            columns.append(
                SignatureColumn(
                    name=str(name) if name is not None else None, type=str(spec["type"])
                )
            )
    return tuple(columns)


def recorded_versions(directory: Path, document: dict[str, Any]) -> dict[str, str]:
    """Library versions the directory records, by module name. The flavours' own entries win
    over requirement pins: they were written by the library that saved the artifact."""
    versions: dict[str, str] = {}
    if document.get("mlflow_version"):
        versions["mlflow"] = str(document["mlflow_version"])
    for conf in document["flavors"].values():
        for key, value in conf.items():
            if key.endswith("_version") and value is not None:
                prefix = key.removesuffix("_version")
                versions.setdefault(_FLAVOUR_VERSION_KEYS.get(prefix, prefix), str(value))
    for key, value in _environment_pins(directory).items():
        versions.setdefault(key, value)
    return versions


def _environment_pins(directory: Path) -> dict[str, str]:
    lines: list[str] = []
    requirements = directory / "requirements.txt"
    if requirements.is_file():
        lines.extend(requirements.read_text(encoding="utf-8", errors="replace").splitlines())
    pins: dict[str, str] = {}
    environment = directory / "python_env.yaml"
    if environment.is_file():
        import yaml

        try:
            document = yaml.safe_load(environment.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            document = None  # a broken optional file records nothing
        if isinstance(document, dict):
            if document.get("python"):
                pins["python"] = str(document["python"])
            dependencies = document.get("dependencies")
            if isinstance(dependencies, list):
                lines.extend(str(d) for d in dependencies)
    for line in lines:
        match = _PIN.match(line)
        if match is None:
            continue
        distribution = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        key = _MODEL_LIBRARIES.get(distribution)
        if key is not None:
            pins.setdefault(key, match.group(2))
    return pins


def installed_versions(keys: list[str]) -> dict[str, str]:
    """The versions running here for `keys` (module names, or "python").

    mlflow counts only when it is imported, i.e. when it loaded the model: a flavour loaded
    natively does not run through it, whatever version is installed.
    """
    versions: dict[str, str] = {}
    for key in keys:
        if key == "python":
            versions[key] = platform.python_version()
            continue
        module = sys.modules.get(key)
        version = getattr(module, "__version__", None) if module is not None else None
        if isinstance(version, str):
            versions[key] = version
            continue
        if key == "mlflow":
            continue
        for distribution in _DISTRIBUTIONS.get(key, (key,)):
            try:
                versions[key] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def _first_line(exc: Exception) -> str:
    """The error on one line: YAML's messages span several, with the position in the middle."""
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
