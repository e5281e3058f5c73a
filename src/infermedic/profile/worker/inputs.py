"""The rows a model is profiled on: a user's sample file or request body, or synthesised rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from infermedic.profile.worker.loaded import LoadedModel


class InputFailure(Exception):
    """The input cannot be used with this model (width, columns, format)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


# What to pass when no rows can be synthesised: in the CLI's words.
INPUT_HINT = (
    "pass --input FILE with a few real rows: CSV, Parquet or JSONL (one column per feature), "
    ".npy, or a JSON request body"
)


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
        if hasattr(data, "to_numpy") and all(is_number(dtype) for dtype in data.dtypes):
            return np.asarray(data.to_numpy(dtype=np.float64, na_value=np.nan))
        return None


def is_number(dtype: Any) -> bool:
    """A column of numbers or booleans. NumPy's `issubdtype` raises on pandas' own dtypes
    (`string`, `category`, nullable `Int64`), which JSON bodies and Parquet files give."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return bool(is_numeric_dtype(dtype) or is_bool_dtype(dtype))


def is_float(dtype: Any) -> bool:
    from pandas.api.types import is_float_dtype

    return bool(is_float_dtype(dtype)) and isinstance(dtype, np.dtype)


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
        if all(is_float(dtype) for dtype in data.dtypes):
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
    """The rows of a JSON request body in the common serving shapes: KServe v1 `instances`,
    MLflow `dataframe_split`/`dataframe_records`, `inputs` (rows or columns), a list of
    records or of value lists, one record, or one of these under a single wrapping key
    (`{"payload": {...}}`). Text values stay text: a pipeline with encoders takes them."""
    import pandas as pd

    body = document
    for _ in range(3):  # unwrap at most a few envelopes
        if not isinstance(body, dict):
            break
        if "dataframe_split" in body and isinstance(body["dataframe_split"], dict):
            split = body["dataframe_split"]
            return _rows_frame(split.get("data"), split.get("columns"))
        key = next((k for k in _ROW_KEYS if k in body), None)
        if key is not None:
            body = body[key]
            continue
        if _is_columnar(body):
            return pd.DataFrame(body)
        if len(body) == 1:
            (inner,) = body.values()
            if isinstance(inner, dict) or (
                isinstance(inner, list) and inner and isinstance(inner[0], dict | list)
            ):
                body = inner
                continue
        break
    if isinstance(body, dict):
        if _is_columnar(body):
            return pd.DataFrame(body)
        body = [body]
    if not isinstance(body, list) or not body:
        raise InputFailure("the request body holds no rows")
    if all(isinstance(row, dict) for row in body):
        return pd.DataFrame(body)
    if any(isinstance(row, dict) for row in body):
        raise InputFailure("the request body mixes records and other values in one list")
    return _rows_frame(body, None)


_ROW_KEYS = ("instances", "inputs", "dataframe_records", "data", "rows")


def _is_columnar(body: dict[str, Any]) -> bool:
    """`{"a": [1, 2], "b": ["x", "y"]}`: every value a list of scalars, all one length."""
    values = list(body.values())
    if not values or not all(isinstance(v, list) and v for v in values):
        return False
    if len({len(v) for v in values}) != 1:
        return False
    return all(not isinstance(x, dict | list) for v in values for x in v)


def _rows_frame(rows: Any, columns: Any) -> Any:
    """Rows of values: a float matrix when all are numbers, else a table whose columns keep
    their own types (numbers as numbers, text as text)."""
    import pandas as pd

    if not isinstance(rows, list) or not rows:
        raise InputFailure("the request body holds no rows")
    if not all(isinstance(row, list) for row in rows):
        rows = [[value] for value in rows]  # one value per row
    if len({len(row) for row in rows}) != 1:
        raise InputFailure("the request body's rows do not all have the same length")
    if columns is None:
        try:
            return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        except (ValueError, TypeError):
            pass
    try:
        frame = pd.DataFrame(rows, columns=columns)
    except (ValueError, TypeError) as exc:
        raise InputFailure(f"the request body's rows do not form a table: {exc}") from exc
    return frame.infer_objects()


def prepare_input(model: LoadedModel, raw: Any) -> Any:
    """Shape the rows for the model: its feature columns in order, or a numeric matrix."""
    if model.kind == "onnx":
        return _onnx_feeds(model, raw)
    if model.kind in _BOOSTERS:
        return _booster_rows(model, raw)
    if model.feature_names is not None:
        if _unnamed(raw):
            if raw.shape[1] != len(model.feature_names):
                raise InputFailure(
                    f"the input has {raw.shape[1]} columns but the model expects "
                    f"{len(model.feature_names)} features"
                )
            import pandas as pd

            values = raw.to_numpy() if hasattr(raw, "columns") else raw
            frame = pd.DataFrame(values, columns=list(model.feature_names))
            return frame.infer_objects() if hasattr(raw, "columns") else frame
        missing = [n for n in model.feature_names if n not in raw.columns]
        if missing:
            raise InputFailure(
                f"the input lacks the model's feature column(s): {', '.join(missing)}"
            )
        return raw[list(model.feature_names)]
    if hasattr(raw, "columns"):
        non_numeric = [str(c) for c, t in raw.dtypes.items() if not is_number(t)]
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


_BOOSTERS = {"xgboost", "lightgbm"}


def _unnamed(raw: Any) -> bool:
    """A matrix, or a table of value lists whose columns are only positions (0, 1, ...)."""
    if not hasattr(raw, "columns"):
        return True
    return [str(c) for c in raw.columns] == [str(i) for i in range(raw.shape[1])]


def _booster_rows(model: LoadedModel, raw: Any) -> Any:
    """XGBoost and LightGBM read a matrix by position and a DataFrame by its column names.

    A matrix stays a matrix (converting it to a DataFrame would add pandas' cost to every
    timed call); a table's columns are matched to the model's feature names where it has them.
    """
    width = model.n_features
    if not hasattr(raw, "columns"):
        matrix = np.asarray(raw)
        if matrix.ndim != 2:
            raise InputFailure(
                f"the input is {matrix.ndim}-dimensional; {model.kind} takes a 2-D matrix of "
                "rows by features"
            )
        _check_width(matrix.shape[1], width)
        return matrix
    if model.feature_names is not None:
        missing = [name for name in model.feature_names if name not in raw.columns]
        if missing:
            raise InputFailure(
                f"the input lacks the model's feature column(s): {_listed(missing)} "
                f"(it has {_listed([str(c) for c in raw.columns])})"
            )
        frame = raw[list(model.feature_names)]
    else:
        frame = raw
        _check_width(frame.shape[1], width)
    unusable = [
        str(column)
        for column, dtype in frame.dtypes.items()
        if str(dtype) != "category" and not is_number(dtype)
    ]
    if unusable:
        raise InputFailure(
            f"the input's column(s) {_listed(unusable)} are neither numeric nor pandas "
            f"categories, which {model.kind} cannot read"
        )
    # Without feature names the column labels mean nothing to the model: pass the numbers.
    return frame if model.feature_names is not None else frame.to_numpy()


def _check_width(columns: int, width: int | None) -> None:
    if width is not None and columns != width:
        raise InputFailure(
            f"the input has {columns} columns but the model expects {width} features"
        )


def _listed(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


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
    if model.signature:
        return _from_signature(model, rows, rng)
    if model.categorical_features:
        raise InputFailure(
            f"the model treats feature(s) {_listed(list(model.categorical_features))} as "
            "categories, which standard-normal rows cannot hold, so no rows are synthesised",
            hint=INPUT_HINT,
        )
    width: int | None = model.n_features
    if width is None and model.feature_names is not None:
        width = len(model.feature_names)
    if width is None:
        raise InputFailure(
            "the model states no input width (no n_features_in_, feature names or MLflow "
            "signature), so no rows can be synthesised",
            hint=INPUT_HINT,
        )
    matrix = rng.standard_normal((rows, width))
    sklearn = model.kind == "sklearn"
    if model.feature_names is not None:
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=list(model.feature_names))
        described = (
            f"from feature_names_in_ ({width} columns)"
            if sklearn
            else f"as a DataFrame of the model's {width} feature names"
        )
        categories = encoder_categories(model.obj) if sklearn else {}
        drawn = [name for name in model.feature_names if categories.get(name)]
        for name in drawn:
            values = np.asarray(categories[name], dtype=object)
            frame[name] = values[rng.integers(0, len(values), rows)]
        if drawn:
            described += (
                f", with {len(drawn)} categorical column(s) drawn from the fitted encoders' "
                f"categories ({_listed(drawn)})"
            )
        return Sample(data=frame, rows=rows, source="synthetic", description=described)
    described = f"n_features_in_={width}" if sklearn else f"the model's width ({width} features)"
    return Sample(data=matrix, rows=rows, source="synthetic", description=f"from {described}")


def encoder_categories(estimator: Any) -> dict[str, list[Any]]:
    """Input column -> the categories a fitted encoder learned for it (`OneHotEncoder`,
    `OrdinalEncoder` and others with `categories_`), found through a Pipeline's first step
    and a ColumnTransformer's column lists, so synthesised rows can hold values the
    encoders accept."""
    found: dict[str, list[Any]] = {}
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        return encoder_categories(steps[0][1])  # only the first step sees the input columns
    transformers = getattr(estimator, "transformers_", None)
    if isinstance(transformers, list):
        for entry in transformers:
            if len(entry) != 3:
                continue
            _name, transformer, columns = entry
            if not isinstance(columns, list | tuple) or not all(
                isinstance(c, str) for c in columns
            ):
                continue
            learned = _learned_categories(transformer, len(columns))
            if learned is not None:
                found.update(zip(columns, learned, strict=True))
        return found
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        learned = _learned_categories(estimator, len(names))
        if learned is not None:
            found.update(zip((str(n) for n in names), learned, strict=True))
    return found


def _learned_categories(transformer: Any, width: int) -> list[list[Any]] | None:
    """One list of categories per input column of `transformer` (or of the step of a small
    Pipeline that has them, behind column-preserving steps such as an imputer)."""
    candidates = [transformer]
    steps = getattr(transformer, "steps", None)
    if isinstance(steps, list):
        candidates = [step for _name, step in steps]
    for candidate in candidates:
        categories = getattr(candidate, "categories_", None)
        if isinstance(categories, list) and len(categories) == width:
            return [
                [v for v in np.asarray(c, dtype=object).tolist() if v == v and v is not None]
                for c in categories
            ]
    return None


# MLflow's column types, as NumPy dtypes; tensor inputs name NumPy dtypes themselves.
_MLFLOW_COLUMN_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
}


def _from_signature(model: LoadedModel, rows: int, rng: np.random.Generator) -> Sample:
    """Rows with the MLflow signature's columns and types, then shaped as the model takes
    them (a model trained on a bare matrix gets the matrix)."""
    columns = model.signature
    integers = False
    if any(column.is_tensor for column in columns):
        if len(columns) != 1:
            raise InputFailure(
                f"the MLflow signature has {len(columns)} tensor inputs, and rows are only "
                "synthesised for one; pass --input"
            )
        spec = columns[0]
        shape = spec.shape or (-1,)
        dims = tuple(d if d > 0 else 1 for d in shape[1:])
        raw: Any = _random_values(spec.type, (rows, *dims), rng, "tensor input")
        integers = np.issubdtype(raw.dtype, np.integer)
        description = f"from the MLflow signature (tensor {spec.type} {list(shape)})"
    else:
        import pandas as pd

        values: dict[str, np.ndarray] = {}
        for index, column in enumerate(columns):
            name = column.name if column.name is not None else str(index)
            dtype = _MLFLOW_COLUMN_DTYPES.get(column.type, column.type)
            values[name] = _random_values(dtype, (rows,), rng, f"column {name!r}")
            integers = integers or np.issubdtype(values[name].dtype, np.integer)
        raw = pd.DataFrame(values)
        names = [str(c) for c in raw.columns]
        shown = names if len(names) <= 6 else [*names[:5], "...", names[-1]]
        description = f"from the MLflow signature ({len(names)} columns: {', '.join(shown)})"
    if integers:
        description += ", integer inputs drawn from 0-9"
    try:
        data = prepare_input(model, raw)
    except InputFailure as exc:
        raise InputFailure(
            f"rows shaped from the MLflow signature do not fit the model: {exc}"
        ) from exc
    return Sample(data=data, rows=rows, source="synthetic", description=description)


def _random_values(
    dtype_name: str, shape: tuple[int, ...], rng: np.random.Generator, what: str
) -> np.ndarray:
    try:
        dtype = np.dtype(dtype_name)
    except TypeError:
        dtype = np.dtype(object)
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 10, shape).astype(dtype)
    if np.issubdtype(dtype, np.bool_):
        return np.asarray(rng.random(shape) < 0.5)
    raise InputFailure(
        f"cannot synthesise {dtype_name} values for the MLflow signature's {what}; pass --input "
        "with real rows"
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
        table = read_table(path)
        data = prepare_input(model, table)
        rows = len(next(iter(data.values()))) if isinstance(data, dict) else len(data)
        description = path.name
        unused = _unused_columns(model, table)
        if unused:
            description += f" ({len(unused)} column(s) the model does not use: {_listed(unused)})"
        sample = Sample(data=data, rows=rows, source="file", description=description)
    if sample.rows == 0:
        raise InputFailure(f"{path.name} holds no rows")
    sample.nan_count, sample.nan_columns = count_nans(sample.data)
    return sample


def _unused_columns(model: LoadedModel, table: Any) -> list[str]:
    """The table's columns that matching by feature name left out (never dropped silently)."""
    if model.feature_names is None or not hasattr(table, "columns"):
        return []
    wanted = set(model.feature_names)
    return [str(column) for column in table.columns if column not in wanted]
