"""The rows a model is profiled on: a user's sample file or request body, or synthesised rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infermedic.profile.loaders import LoadedModel


class InputFailure(Exception):
    """The input cannot be used with this model (width, columns, format)."""


@dataclass(kw_only=True)
class Sample:
    """Rows in the form the model takes: an array, a DataFrame, or ONNX feeds by input name."""

    data: Any
    rows: int
    source: str  # "file", "request-body", "synthetic"
    description: str
    nan_count: int = 0
    nan_columns: list[str] = field(default_factory=list)
    request_body: bytes | None = None

    def take(self, count: int) -> Any:
        return _head(self.data, count)

    def as_float32(self) -> Sample | None:
        """The same rows as float32, or None when the input is not all floating point."""
        converted = _to_float32(self.data)
        if converted is None:
            return None
        return Sample(data=converted, rows=self.rows, source=self.source, description="float32")

    def as_matrix(self) -> np.ndarray | None:
        """A 2-D float array of the rows (for ONNX conversion), when the input is one."""
        data = self.data
        if isinstance(data, np.ndarray) and data.ndim == 2:
            return data
        if hasattr(data, "to_numpy") and all(
            np.issubdtype(dtype, np.number) for dtype in data.dtypes
        ):
            return np.asarray(data.to_numpy(dtype=np.float64))
        return None


def _head(data: Any, count: int) -> Any:
    if isinstance(data, dict):
        return {name: value[:count] for name, value in data.items()}
    if hasattr(data, "iloc"):
        return data.iloc[:count]
    return data[:count]


def _to_float32(data: Any) -> Any | None:
    if isinstance(data, np.ndarray):
        return data.astype(np.float32) if np.issubdtype(data.dtype, np.floating) else None
    if hasattr(data, "dtypes"):
        if all(np.issubdtype(dtype, np.floating) for dtype in data.dtypes):
            return data.astype(np.float32)
        return None
    return None


def read_table(path: Path) -> Any:
    """A DataFrame (or a 2-D array for .npy) from a sample file."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        return array.reshape(-1, 1) if array.ndim == 1 else array
    if suffix in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pandas()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in {".jsonl", ".ndjson"}:
        return pd.read_json(path, lines=True)
    raise InputFailure(f"unsupported input format {suffix or '(none)'}")


def frame_from_request(document: Any) -> Any:
    """The rows of a JSON request body in the common serving shapes (KServe v1 `instances`,
    MLflow `dataframe_split`/`dataframe_records`, `inputs`, a list, or one record)."""
    import pandas as pd

    body = document
    if isinstance(body, dict):
        if "dataframe_split" in body:
            split = body["dataframe_split"]
            return pd.DataFrame(split["data"], columns=split.get("columns"))
        for key in ("instances", "inputs", "dataframe_records", "data", "rows"):
            if key in body:
                body = body[key]
                break
        else:
            body = [body]
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body:
        raise InputFailure("the request body holds no rows")
    if all(isinstance(row, dict) for row in body):
        return pd.DataFrame(body)
    return np.asarray(body, dtype=np.float64).reshape(len(body), -1)


def prepare_input(model: LoadedModel, raw: Any) -> Any:
    """Shape the rows for the model: its feature columns in order, or a numeric matrix."""
    if model.kind == "onnx":
        return _onnx_feeds(model, raw)
    if model.feature_names is not None:
        if not hasattr(raw, "columns"):
            if raw.shape[1] != len(model.feature_names):
                raise InputFailure(
                    f"the input has {raw.shape[1]} columns but the model expects "
                    f"{len(model.feature_names)} features"
                )
            import pandas as pd

            return pd.DataFrame(raw, columns=list(model.feature_names))
        missing = [n for n in model.feature_names if n not in raw.columns]
        if missing:
            raise InputFailure(
                f"the input lacks the model's feature column(s): {', '.join(missing)}"
            )
        return raw[list(model.feature_names)]
    if hasattr(raw, "columns"):
        non_numeric = [str(c) for c, t in raw.dtypes.items() if not np.issubdtype(t, np.number)]
        if non_numeric and model.kind != "callable":
            raise InputFailure(
                f"the input has non-numeric column(s) {', '.join(non_numeric)} and the model "
                "names no feature columns"
            )
        matrix = raw.to_numpy()
    else:
        matrix = np.asarray(raw)
    if model.n_features is not None and matrix.ndim == 2 and matrix.shape[1] != model.n_features:
        raise InputFailure(
            f"the input has {matrix.shape[1]} columns but the model expects "
            f"{model.n_features} features"
        )
    return matrix


def _onnx_feeds(model: LoadedModel, raw: Any) -> Any:
    inputs = model.onnx_inputs
    if len(inputs) == 1:
        matrix = raw.to_numpy() if hasattr(raw, "to_numpy") else np.asarray(raw)
        expected = inputs[0].shape[1] if len(inputs[0].shape) == 2 else None
        if isinstance(expected, int) and matrix.shape[1] != expected:
            raise InputFailure(
                f"the input has {matrix.shape[1]} columns but ONNX input {inputs[0].name!r} "
                f"expects {expected}"
            )
        return matrix.astype(onnx_dtype(inputs[0].element_type))
    if not hasattr(raw, "columns"):
        raise InputFailure("the ONNX model has several inputs; give a table with those columns")
    feeds: dict[str, np.ndarray] = {}
    for spec in inputs:
        if spec.name not in raw.columns:
            raise InputFailure(f"the input lacks a column for ONNX input {spec.name!r}")
        feeds[spec.name] = raw[[spec.name]].to_numpy().astype(onnx_dtype(spec.element_type))
    return feeds


def onnx_dtype(element_type: str) -> Any:
    table: dict[str, Any] = {
        "tensor(float)": np.float32,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(string)": np.object_,
        "tensor(bool)": np.bool_,
    }
    return table.get(element_type, np.float32)


def count_nans(data: Any) -> tuple[int, list[str]]:
    if isinstance(data, dict):
        items = list(data.items())
    elif hasattr(data, "columns"):
        items = [(str(c), data[c].to_numpy()) for c in data.columns]
    else:
        array = np.asarray(data)
        items = [(str(i), array[:, i]) for i in range(array.shape[1])] if array.ndim == 2 else []
    total = 0
    columns: list[str] = []
    for name, values in items:
        if np.issubdtype(np.asarray(values).dtype, np.floating):
            count = int(np.isnan(values).sum())
            if count:
                total += count
                columns.append(name)
    return total, columns


def synthesise(model: LoadedModel, rows: int, seed: int = 0) -> Sample:
    """Standard-normal rows shaped from the model's own signature."""
    rng = np.random.default_rng(seed)
    if model.kind == "onnx":
        feeds: dict[str, np.ndarray] = {}
        for spec in model.onnx_inputs:
            columns = spec.shape[1] if len(spec.shape) == 2 else 1
            n_columns = columns if isinstance(columns, int) else 1
            dtype = onnx_dtype(spec.element_type)
            if np.issubdtype(dtype, np.floating):
                feeds[spec.name] = rng.standard_normal((rows, n_columns)).astype(dtype)
            elif np.issubdtype(dtype, np.integer):
                feeds[spec.name] = rng.integers(0, 10, (rows, n_columns)).astype(dtype)
            else:
                raise InputFailure(
                    f"cannot synthesise {spec.element_type} input {spec.name!r}; pass --input"
                )
        shapes = ", ".join(f"{s.name}{list(s.shape)} {s.element_type}" for s in model.onnx_inputs)
        data: Any = feeds[model.onnx_inputs[0].name] if len(feeds) == 1 else feeds
        return Sample(
            data=data, rows=rows, source="synthetic", description=f"from ONNX inputs {shapes}"
        )
    width: int | None = model.n_features
    if width is None and model.feature_names is not None:
        width = len(model.feature_names)
    if width is None:
        raise InputFailure(
            "the model states no input width (no n_features_in_ or feature_names_in_), so no "
            "rows can be synthesised; pass --input"
        )
    matrix = rng.standard_normal((rows, width))
    if model.feature_names is not None:
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=list(model.feature_names))
        return Sample(
            data=frame,
            rows=rows,
            source="synthetic",
            description=f"from feature_names_in_ ({width} columns)",
        )
    return Sample(
        data=matrix, rows=rows, source="synthetic", description=f"from n_features_in_={width}"
    )


def load_sample(model: LoadedModel, path: Path) -> Sample:
    if path.suffix.lower() == ".json":
        body = path.read_bytes()
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise InputFailure(f"the request body is not valid JSON: {exc}") from exc
        data = prepare_input(model, frame_from_request(document))
        sample = Sample(
            data=data,
            rows=len(data) if not isinstance(data, dict) else len(next(iter(data.values()))),
            source="request-body",
            description=f"request body {path.name} ({len(body)} bytes)",
            request_body=body,
        )
    else:
        data = prepare_input(model, read_table(path))
        rows = len(next(iter(data.values()))) if isinstance(data, dict) else len(data)
        sample = Sample(data=data, rows=rows, source="file", description=f"{path.name}")
    if sample.rows == 0:
        raise InputFailure(f"{path.name} holds no rows")
    sample.nan_count, sample.nan_columns = count_nans(sample.data)
    return sample
