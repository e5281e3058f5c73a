"""One prediction-log row: the columns in order, features and outputs flattened, values made
plain (the row format is described in `predlog`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

Row = dict[str, Any]
_LEADING = frozenset({"time", "request_id", "model_version"})
MISSING: Any = object()


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """A JSON/Arrow-friendly value: NumPy scalars and arrays become Python ones."""
    if type(value) in _SCALARS:  # the common case first: this runs for every cell
        return value
    if isinstance(value, str | bool | int | float):
        return value
    # Duck-typed so the logger never imports NumPy.
    if hasattr(value, "tolist") and not isinstance(value, bytes | bytearray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    return value


def _as_mapping(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    model_dump = getattr(value, "model_dump", None)  # pydantic v2 models
    if callable(model_dump):
        dumped = model_dump()
        if isinstance(dumped, Mapping):
            return dumped
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot log {type(value).__name__} as columns; pass a mapping")


def _add_columns(row: Row, mapping: Mapping[str, Any], taken: frozenset[str], rename: str) -> None:
    """Add `mapping` to `row` as columns, nested mappings flattened with dots.

    A name already in `taken` (or, for outputs, already in the row) gets the `rename` prefix.
    """
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            _add_columns(row, {f"{key}.{k}": v for k, v in value.items()}, taken, rename)
            continue
        name = key if isinstance(key, str) else str(key)
        if name in taken or name in row:
            name = f"{rename}{name}"
        row[name] = _plain(value)


def build_row(
    *,
    time_s: float,
    request_id: str | None,
    model_version: str | None,
    features: Any,
    prediction: Any = MISSING,
    outputs: Any = None,
) -> Row:
    """One prediction-log row in the documented column order (see the module docstring)."""
    row: Row = {
        "time": dt.datetime.fromtimestamp(time_s, tz=dt.UTC),
        "request_id": request_id,
        "model_version": model_version,
    }
    _add_columns(row, _as_mapping(features), _LEADING, "input_")
    if prediction is not MISSING:
        row["output_prediction" if "prediction" in row else "prediction"] = _plain(prediction)
    if outputs is not None:
        _add_columns(row, _as_mapping(outputs), _LEADING, "output_")
    return row
