"""XGBoost and LightGBM native model files: loading, and what the files say about themselves
(objective, feature names and categories, the XGBoost version that saved them).

Imported lazily by `loaders`, in the worker only, like every model library.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

from infermedic.profile.worker.loaded import (
    LoadedModel,
    LoadFailure,
    library_versions,
    native_error,
)

# An XGBoost objective with one of these prefixes classifies: probabilities, labels or margins.
_XGBOOST_CLASSIFIER_PREFIXES = ("binary:", "multi:")
_LIGHTGBM_CLASSIFIER_OBJECTIVES = {"binary", "multiclass", "multiclassova"}


def load_xgboost(path: str) -> LoadedModel:
    model = xgboost_booster(path)
    if "xgboost" not in model.saved_with:
        model.load_warnings.append(
            "the XGBoost model file records no XGBoost version, so a version skew cannot be checked"
        )
    return model


def xgboost_booster(path: str) -> LoadedModel:
    try:
        import xgboost
    except ImportError as exc:
        raise LoadFailure(
            "engine-unavailable",
            "xgboost is not installed",
            hint="pip install xgboost (an optional extra)",
        ) from exc
    booster = xgboost.Booster()
    try:
        booster.load_model(path)
    except xgboost.core.XGBoostError as exc:
        raise LoadFailure("corrupt", f"XGBoost cannot load the model: {native_error(exc)}") from exc
    names = tuple(booster.feature_names) if booster.feature_names else None
    width = int(booster.num_features())
    columns = names or tuple(f"f{index}" for index in range(width))
    categorical = tuple(
        name
        for name, kind in zip(columns, booster.feature_types or (), strict=False)
        if kind == "c"
    )
    version = _xgboost_file_version(Path(path))
    return LoadedModel(
        kind="xgboost",
        obj=booster,
        method="inplace_predict",
        call=booster.inplace_predict,
        is_classifier=_xgboost_objective(booster).startswith(_XGBOOST_CLASSIFIER_PREFIXES),
        n_features=width,
        feature_names=names,
        saved_with={"xgboost": version} if version else {},
        loaded_with=library_versions("xgboost", "numpy"),
        categorical_features=categorical,
    )


def _xgboost_objective(booster: Any) -> str:
    import json

    try:
        return str(json.loads(booster.save_config())["learner"]["objective"]["name"])
    except (ValueError, KeyError, TypeError):
        return ""


_JSON_VERSION = re.compile(rb'"version"\s*:\s*\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]')
_UBJSON_INTS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}


def _xgboost_file_version(path: Path) -> str | None:
    """The `version` XGBoost writes into its JSON and UBJSON models, read from the file's tail.

    XGBoost writes object keys in sorted order, so `version` follows `learner` and ends the
    file; reading only the tail keeps this cheap for models of hundreds of megabytes.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 4096))
            tail = handle.read()
    except OSError:
        return None
    matches = list(_JSON_VERSION.finditer(tail))
    if matches:
        return ".".join(part.decode() for part in matches[-1].groups())
    at = tail.rfind(b"version[")
    if at < 0:
        return None
    try:
        numbers = _ubjson_int_array(tail, at + len(b"version["))
    except (KeyError, IndexError, struct.error):
        return None
    return ".".join(str(n) for n in numbers) if len(numbers) == 3 else None


def _ubjson_int_array(data: bytes, pos: int) -> list[int]:
    """The integers of a UBJSON array whose opening `[` ends just before `pos`."""
    item_type: bytes | None = None
    if data[pos : pos + 1] == b"$":
        item_type = data[pos + 1 : pos + 2]
        pos += 2
    count: int | None = None
    if data[pos : pos + 1] == b"#":
        count, pos = _ubjson_int(data, pos + 2, data[pos + 1 : pos + 2])
    values: list[int] = []
    while (count is None or len(values) < count) and len(values) < 8:
        marker = item_type
        if marker is None:
            marker = data[pos : pos + 1]
            pos += 1
            if marker == b"]":
                break
        value, pos = _ubjson_int(data, pos, marker)
        values.append(value)
    return values


def _ubjson_int(data: bytes, pos: int, marker: bytes) -> tuple[int, int]:
    """The integer of UBJSON type `marker` whose payload starts at `pos`, and where it ends."""
    fmt = _UBJSON_INTS[marker]
    size = struct.calcsize(fmt)
    (value,) = struct.unpack(fmt, data[pos : pos + size])
    return int(value), pos + size


def load_lightgbm(path: str) -> LoadedModel:
    model = lightgbm_booster(path)
    # `version=v4` heads the file: the text format's version, which every LightGBM 4.x
    # writes; the library version that saved the model is not recorded anywhere in it.
    model.load_warnings.append(
        f"the LightGBM model file records its text format ({_lightgbm_format(Path(path))}), "
        "not the LightGBM version that saved it, so a version skew cannot be checked"
    )
    return model


def lightgbm_booster(path: str) -> LoadedModel:
    try:
        import lightgbm
    except ImportError as exc:
        raise LoadFailure(
            "engine-unavailable",
            "lightgbm is not installed",
            hint="pip install lightgbm (an optional extra)",
        ) from exc
    try:
        booster = lightgbm.Booster(model_file=path)
    except lightgbm.basic.LightGBMError as exc:
        raise LoadFailure(
            "corrupt", f"LightGBM cannot load the model: {native_error(exc)}"
        ) from exc
    names = tuple(str(name) for name in booster.feature_name())
    # LightGBM names the columns of unnamed (NumPy) training data Column_0, Column_1, ...:
    # no rows carry those names, so they must not be required of the input.
    named = names != tuple(f"Column_{index}" for index in range(len(names)))
    params = booster.params if isinstance(booster.params, dict) else {}
    categorical = _lightgbm_categorical(params.get("categorical_feature"), names)
    return LoadedModel(
        kind="lightgbm",
        obj=booster,
        method="predict",
        call=booster.predict,
        is_classifier=str(params.get("objective", "")) in _LIGHTGBM_CLASSIFIER_OBJECTIVES,
        n_features=int(booster.num_feature()),
        feature_names=names if named else None,
        loaded_with=library_versions("lightgbm", "numpy"),
        categorical_features=categorical,
    )


def _lightgbm_categorical(value: Any, names: tuple[str, ...]) -> tuple[str, ...]:
    """Categorical features from the model's `categorical_feature` parameter (indices)."""
    items = value if isinstance(value, list | tuple) else str(value or "").split(",")
    found: list[str] = []
    for item in items:
        text = str(item).strip().removeprefix("name:")
        if text.isdigit() and int(text) < len(names):
            found.append(names[int(text)])
        elif text in names:
            found.append(text)
    return tuple(found)


def _lightgbm_format(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(64).decode("ascii", errors="replace")
    except OSError:
        return "unknown format version"
    match = re.search(r"version=(\S+)", head)
    return f"version={match.group(1)}" if match else "unknown format version"
