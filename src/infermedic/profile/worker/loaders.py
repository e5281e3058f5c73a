"""Loading the named model inside the worker process, behind one calling convention.

Runs only in the worker: a pickle is code, and loading one runs it, so only the artifact the
user named is ever loaded, and a crash or hang inside it ends the worker, not the run.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from infermedic.profile.detect import ModelFormat
from infermedic.profile.worker.loaded import (
    LoadedModel,
    LoadFailure,
    OnnxInput,
    library_versions,
    native_error,
)


def load_model(
    fmt: ModelFormat, *, path: str | None, ref: str, method: str, sys_path: list[str]
) -> LoadedModel:
    for directory in reversed(sys_path):
        if directory not in sys.path:
            sys.path.insert(0, directory)
    match fmt:
        case ModelFormat.PICKLE:
            assert path is not None
            return _load_pickle(path, method)
        case ModelFormat.ONNX:
            assert path is not None
            return load_onnx(path, intra_op_threads=0)
        case ModelFormat.OBJECT:
            return _load_object(ref, method)
        case ModelFormat.XGBOOST:
            assert path is not None
            from infermedic.profile.worker import boosters

            return boosters.load_xgboost(path)
        case ModelFormat.LIGHTGBM:
            assert path is not None
            from infermedic.profile.worker import boosters

            return boosters.load_lightgbm(path)
        case ModelFormat.TORCHSCRIPT | ModelFormat.TORCH_EXPORT:
            assert path is not None
            return _load_torch(path, fmt)
        case ModelFormat.MLFLOW:
            assert path is not None
            return _load_mlflow(path, method, sys_path)


def _load_pickle(path: str, method: str) -> LoadedModel:
    import pickle

    import joblib

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            obj = joblib.load(path)
        except ModuleNotFoundError as exc:
            raise LoadFailure(
                "missing-module",
                f"the pickle needs module {exc.name!r}, which cannot be imported",
                hint="install it, or put the directory holding it on the path with --path DIR",
            ) from exc
        except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as exc:
            raise LoadFailure(
                "corrupt", f"the file is not a loadable pickle: {type(exc).__name__}: {exc}"
            ) from exc
        except AttributeError as exc:
            raise LoadFailure(
                "missing-module",
                f"the pickle names a class or function that no longer exists: {exc}",
                hint="load it with the code version it was saved with",
            ) from exc
    model = wrap_object(obj, method, kind_hint="pickle")
    for warning in caught:
        message = warning.message
        if type(message).__name__ == "InconsistentVersionWarning":
            model.version_warnings.append(
                {
                    "estimator": str(getattr(message, "estimator_name", "")),
                    "saved_with": str(getattr(message, "original_sklearn_version", "")),
                    "loaded_with": str(getattr(message, "current_sklearn_version", "")),
                    "message": str(message).splitlines()[0],
                }
            )
        else:
            model.load_warnings.append(f"{warning.category.__name__}: {message}")
    for entry in model.version_warnings:
        model.saved_with.setdefault("sklearn", entry["saved_with"])
    if model.kind == "sklearn" and not model.version_warnings and "sklearn" in model.loaded_with:
        # scikit-learn warns on load whenever the versions differ; no warning means the same.
        model.saved_with["sklearn"] = model.loaded_with["sklearn"]
    return model


def wrap_object(obj: Any, method: str, *, kind_hint: str) -> LoadedModel:
    """A Python object with `predict`/`predict_proba`, or a plain callable (an eager torch
    `nn.Module` is called on tensors made from the rows, like a TorchScript file)."""
    torch = sys.modules.get("torch")  # not imported: the object cannot be a torch module
    if torch is not None and isinstance(obj, torch.nn.Module) and method in {"auto", "__call__"}:
        return torch_model(obj, n_features=_eager_width(obj), training=bool(obj.training))
    chosen = _choose_method(obj, method)
    if chosen is None:
        raise LoadFailure(
            "unsupported",
            f"{type(obj).__name__} has no predict_proba or predict method and is not callable",
        )
    module_root = type(obj).__module__.split(".")[0]
    is_sklearn = module_root == "sklearn" or _is_sklearn_estimator(obj)
    kind = "sklearn" if is_sklearn else ("callable" if chosen == "__call__" else "object")
    call = obj if chosen == "__call__" else getattr(obj, chosen)
    n_features = getattr(obj, "n_features_in_", None)
    names = getattr(obj, "feature_names_in_", None)
    is_classifier = False
    if is_sklearn:
        from sklearn.base import is_classifier as sk_is_classifier

        is_classifier = bool(sk_is_classifier(obj))
    elif hasattr(obj, "classes_"):
        is_classifier = True
    return LoadedModel(
        kind=kind,
        obj=obj,
        method=chosen,
        call=call,
        is_classifier=is_classifier,
        n_features=int(n_features) if isinstance(n_features, int) else None,
        feature_names=tuple(str(n) for n in names) if names is not None else None,
        loaded_with=library_versions("sklearn", "numpy", "scipy", "joblib"),
    )


def _is_sklearn_estimator(obj: Any) -> bool:
    if "sklearn" not in sys.modules:
        return False  # nothing loaded it, so the object cannot be one (and importing costs ~1 s)
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(obj, BaseEstimator)


def _choose_method(obj: Any, method: str) -> str | None:
    if method != "auto":
        if method == "__call__" and callable(obj):
            return method
        return method if callable(getattr(obj, method, None)) else None
    for name in ("predict_proba", "predict"):
        if callable(getattr(obj, name, None)):
            return name
    return "__call__" if callable(obj) else None


def _load_object(ref: str, method: str) -> LoadedModel:
    module_name, _, attr_path = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise LoadFailure(
            "missing-module",
            f"cannot import module {module_name!r}: {exc}",
            hint="run from the directory that holds it, or add --path DIR",
        ) from exc
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise LoadFailure("unsupported", f"{module_name} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    return wrap_object(obj, method, kind_hint="object")


def load_onnx(path: str, *, intra_op_threads: int) -> LoadedModel:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise LoadFailure("engine-unavailable", "onnxruntime is not installed") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own untyped errors for bad graphs
        raise LoadFailure("corrupt", f"ONNX Runtime cannot load the model: {exc}") from exc
    inputs = tuple(
        OnnxInput(name=i.name, shape=tuple(i.shape), element_type=i.type)
        for i in session.get_inputs()
    )
    outputs = [o.name for o in session.get_outputs()]
    is_classifier = any("label" in name.lower() for name in outputs) and len(outputs) > 1
    saved_with: dict[str, str] = {}
    try:
        import onnx

        proto = onnx.load(path, load_external_data=False)
        if proto.producer_name:
            saved_with[proto.producer_name] = proto.producer_version
        saved_with["onnx-opset"] = ",".join(
            f"{o.domain or 'ai.onnx'}:{o.version}" for o in proto.opset_import
        )
    except Exception:  # the metadata is optional; ORT already accepted the model
        pass
    n_features = None
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and isinstance(inputs[0].shape[1], int):
        n_features = inputs[0].shape[1]
    names = [i.name for i in inputs]

    def run(batch: Any) -> Any:
        feed = batch if isinstance(batch, dict) else {names[0]: batch}
        return session.run(None, feed)

    return LoadedModel(
        kind="onnx",
        obj=session,
        method="run",
        call=run,
        is_classifier=is_classifier,
        n_features=n_features,
        onnx_inputs=inputs,
        saved_with=saved_with,
        loaded_with=library_versions("onnxruntime", "numpy"),
    )


def _load_torch(path: str, fmt: ModelFormat) -> LoadedModel:
    try:
        import torch
    except ImportError as exc:
        raise LoadFailure(
            "engine-unavailable",
            "torch is not installed",
            hint="pip install 'infermedic[torch]' to profile TorchScript and torch.export models",
        ) from exc
    n_features: int | None = None
    try:
        if fmt is ModelFormat.TORCHSCRIPT:
            # torch.jit is untyped; through Any, mypy passes with torch installed or not.
            jit: Any = torch.jit
            module = jit.load(path, map_location="cpu")
            training: bool = bool(module.training)
        else:
            program = torch.export.load(path)
            module = program.module()
            n_features = _export_width(program)
            # An exported graph is fixed when exported: its `training` flag means nothing,
            # but a dropout op with train=True means it was exported in training mode.
            # `aten.dropout(input, p, train)` stays in the graph either way; `train` tells.
            training = any(
                "dropout" in str(node.target) and len(node.args) > 2 and bool(node.args[2])
                for node in program.graph.nodes
            )
    except Exception as exc:  # torch raises RuntimeError/ValueError variants for bad files
        raise LoadFailure("corrupt", f"torch cannot load the model: {exc}") from exc
    if n_features is None and fmt is ModelFormat.TORCHSCRIPT:
        n_features = _eager_width(module)
    return torch_model(module, n_features=n_features, training=training)


def torch_model(module: Any, *, n_features: int | None, training: bool) -> LoadedModel:
    """A torch module called on rows: NumPy or DataFrame in, NumPy out, floats cast to the
    weights' dtype (float64 rows from Parquet/NumPy would be rejected otherwise)."""
    from infermedic.profile.worker.torch_ops import module_caller, weights_dtype

    return LoadedModel(
        kind="torch",
        obj=module,
        method="forward",
        call=module_caller(module, weights_dtype(module)),
        n_features=n_features,
        loaded_with=library_versions("torch", "numpy"),
        training=training,
    )


def _eager_width(module: Any) -> int | None:
    """The input width of a module (eager or TorchScript, scripted or traced) whose first
    layer with weights is a Linear: its weight is (out, in)."""
    for layer in module.modules():
        own = list(layer.parameters(recurse=False))
        if not own:
            continue
        linear = hasattr(layer, "in_features") or getattr(layer, "original_name", "") == "Linear"
        weight = getattr(layer, "weight", None)
        if linear and weight is not None and weight.dim() == 2:
            return int(weight.shape[1])
        return None
    return None


def _export_width(program: Any) -> int | None:
    """The feature width of a single 2-D user input, from the exported graph's signature."""
    names = set(program.graph_signature.user_inputs)
    shapes = [
        node.meta.get("val").shape
        for node in program.graph.nodes
        if node.op == "placeholder" and node.name in names and node.meta.get("val") is not None
    ]
    if len(shapes) == 1 and len(shapes[0]) == 2:
        try:
            return int(shapes[0][1])
        except TypeError:  # a symbolic width
            return None
    return None


_MLFLOW_HINT = (
    "an MLflow model directory holds the MLmodel file MLflow wrote and every file it names; "
    "copy or download the whole directory"
)
_NATIVE_FLAVOURS = "sklearn, xgboost, lightgbm and onnx"


def _load_mlflow(path: str, method: str, sys_path: list[str]) -> LoadedModel:
    """The sklearn, xgboost, lightgbm and onnx flavours load natively from the files MLflow
    wrote, as a service unpickling them would; any other flavour needs mlflow's pyfunc."""
    from infermedic.profile import mlflow_model

    directory = Path(path)
    try:
        document = mlflow_model.read_mlmodel(directory)
        model = _load_mlflow_flavour(directory, document["flavors"], method)
    except mlflow_model.MLmodelError as exc:
        raise LoadFailure("corrupt", str(exc), hint=_MLFLOW_HINT) from exc
    try:
        model.signature = mlflow_model.signature_inputs(document)
    except mlflow_model.MLmodelError as exc:
        model.load_warnings.append(f"the MLmodel signature is not used: {exc}")
    if model.kind in {"object", "callable"}:
        _adopt_signature(model)
    # The artifact's own record outranks what MLmodel says of it: the version in an XGBoost
    # file, or the one scikit-learn's warning read from inside the pickle.
    own = set(model.saved_with) if model.kind == "xgboost" else set()
    if model.version_warnings:
        own.add("sklearn")
    for library, version in mlflow_model.recorded_versions(directory, document).items():
        if library not in own:
            model.saved_with[library] = version
    unknown = [library for library in model.saved_with if library not in model.loaded_with]
    model.loaded_with.update(mlflow_model.installed_versions(unknown))
    return model


def _load_mlflow_flavour(directory: Path, flavors: dict[str, Any], method: str) -> LoadedModel:
    from infermedic.profile.mlflow_model import flavour_file
    from infermedic.profile.worker import boosters

    if "sklearn" in flavors:
        conf = flavors["sklearn"]
        pickled = flavour_file(directory, "sklearn", conf, "pickled_model")
        # MLflow reads a flavour without the key (older models) as a plain pickle.
        return _load_estimator_file(
            pickled, str(conf.get("serialization_format") or "pickle"), conf, method
        )
    if "xgboost" in flavors:
        return boosters.xgboost_booster(
            str(flavour_file(directory, "xgboost", flavors["xgboost"], "data"))
        )
    if "lightgbm" in flavors:
        conf = flavors["lightgbm"]
        data = flavour_file(directory, "lightgbm", conf, "data")
        if conf.get("model_class", "lightgbm.basic.Booster") == "lightgbm.basic.Booster":
            return boosters.lightgbm_booster(str(data))
        # The scikit-learn API (LGBMClassifier, ...) is serialised like an sklearn flavour;
        # MLflow's own loader defaults to cloudpickle for it.
        return _load_estimator_file(
            data, str(conf.get("serialization_format") or "cloudpickle"), conf, method
        )
    if "onnx" in flavors:
        return load_onnx(
            str(flavour_file(directory, "onnx", flavors["onnx"], "data")), intra_op_threads=0
        )
    return _load_pyfunc(directory, flavors, method)


def _load_estimator_file(
    path: Path, serialization_format: str, conf: dict[str, Any], method: str
) -> LoadedModel:
    if serialization_format in {"pickle", "cloudpickle"}:
        # cloudpickle writes a standard pickle stream: the same unpickler reads both, and
        # needs cloudpickle importable only for functions or classes it saved by value.
        return _load_pickle(str(path), method)
    if serialization_format == "skops":
        return _load_skops(path, conf, method)
    raise LoadFailure(
        "unsupported",
        f"MLmodel names serialization format {serialization_format!r} for {path.name}",
        hint="MLflow writes pickle, cloudpickle or skops; a newer MLflow may have written this",
    )


def _load_skops(path: Path, conf: dict[str, Any], method: str) -> LoadedModel:
    try:
        import skops.io
    except ImportError as exc:
        raise LoadFailure(
            "engine-unavailable",
            f"{path.name} is saved in the skops format (MLflow's default for scikit-learn), "
            "and skops is not installed",
            hint="pip install skops",
        ) from exc
    trusted = conf.get("skops_trusted_types")
    try:
        # The same allow-list MLflow's own loader passes: the types MLmodel records.
        obj = skops.io.load(path, trusted=[str(t) for t in trusted] if trusted else None)
    except Exception as exc:  # skops raises UntrustedTypesFoundException, TypeError, ...
        raise LoadFailure(
            "corrupt",
            f"skops cannot load {path.name}: {type(exc).__name__}: {native_error(exc)}",
            hint="skops loads only the types MLmodel lists under skops_trusted_types",
        ) from exc
    return wrap_object(obj, method, kind_hint="skops")


def _load_pyfunc(directory: Path, flavors: dict[str, Any], method: str) -> LoadedModel:
    names = ", ".join(flavors)
    if "python_function" not in flavors:
        raise LoadFailure(
            "unsupported",
            f"the MLmodel's flavour(s) {names} have no python_function flavour, so there is "
            "no predict to call",
            hint=f"infermedic loads the {_NATIVE_FLAVOURS} flavours itself; any other needs "
            "a python_function flavour and mlflow",
        )
    # mlflow's usage telemetry would post from a background thread while calls are timed;
    # a user who set the variable either way keeps their choice.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        raise LoadFailure(
            "engine-unavailable",
            f"the MLflow flavour(s) {names} load through mlflow.pyfunc, and mlflow is not "
            "installed",
            hint=f"pip install mlflow-skinny; the {_NATIVE_FLAVOURS} flavours load without it",
        ) from exc
    try:
        loaded = mlflow.pyfunc.load_model(str(directory))
    except ModuleNotFoundError as exc:
        raise LoadFailure(
            "missing-module",
            f"the model needs module {exc.name!r}, which cannot be imported",
            hint="install the directory's requirements.txt, or add --path DIR",
        ) from exc
    except Exception as exc:  # MlflowException, or anything the model's own loader raises
        raise LoadFailure(
            "error",
            f"mlflow.pyfunc cannot load the model: {type(exc).__name__}: {native_error(exc)}",
            hint=_MLFLOW_HINT,
        ) from exc
    return wrap_object(loaded, "predict" if method == "auto" else method, kind_hint="mlflow")


def _adopt_signature(model: LoadedModel) -> None:
    """A pyfunc wrapper states no width of its own: its input is the signature's."""
    if model.feature_names is not None or model.n_features is not None or not model.signature:
        return
    columns = model.signature
    if all(not c.is_tensor and c.name is not None for c in columns):
        model.feature_names = tuple(str(c.name) for c in columns)
        model.n_features = len(columns)
    elif len(columns) == 1 and columns[0].shape is not None and len(columns[0].shape) == 2:
        width = columns[0].shape[1]
        model.n_features = width if width > 0 else None
