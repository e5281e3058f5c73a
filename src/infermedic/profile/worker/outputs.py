"""Comparing model outputs: normalising them to arrays and measuring parity between two runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def output_array(output: Any) -> np.ndarray:
    """One numeric array from a model's output: probabilities when a classifier gives both."""
    if isinstance(output, dict) and output:  # named heads: the same choice over their values
        return output_array([output[key] for key in sorted(output)])
    if isinstance(output, list) and output and isinstance(output[0], dict):
        keys = sorted(output[0])
        table = [[row.get(k) if isinstance(row, dict) else row for k in keys] for row in output]
        try:
            return np.asarray(table, dtype=np.float64)
        except (ValueError, TypeError):  # labels as text, or nested values: kept as they are
            array = np.empty((len(table), len(keys)), dtype=object)
            for i, row in enumerate(table):
                for j, value in enumerate(row):
                    array[i, j] = value  # one by one: a nested list stays one value
            return array
    if isinstance(output, list | tuple) and output and all(isinstance(r, list) for r in output):
        return np.asarray(output)  # rows as Python lists (heads come as arrays or tensors)
    if isinstance(output, list | tuple) and output and not np.isscalar(output[0]):
        arrays = [output_array(item) for item in output]
        floating = [a for a in arrays if np.issubdtype(a.dtype, np.floating) and a.ndim == 2]
        return floating[-1] if floating else arrays[0]
    if hasattr(output, "to_numpy"):
        return np.asarray(output.to_numpy())
    if hasattr(output, "detach"):
        return np.asarray(output.detach().cpu().numpy())
    return np.asarray(output)


def labels_of(array: np.ndarray) -> np.ndarray:
    """Class labels: the argmax of a probability matrix; for one float per row (a binary
    booster's probability or margin), which side of 0.5 or 0 it falls; else the values."""
    if array.ndim == 2 and array.shape[1] > 1 and np.issubdtype(array.dtype, np.floating):
        return np.asarray(array.argmax(axis=1))
    values = array.reshape(len(array), -1)[:, 0] if array.ndim >= 1 and len(array) else array
    if np.issubdtype(values.dtype, np.floating) and values.size:
        finite = values[np.isfinite(values)]
        if finite.size and not np.all(finite == np.round(finite)):
            inside = bool(np.all((finite >= 0) & (finite <= 1)))
            return np.asarray(values > (0.5 if inside else 0.0))
    return values


def parity(reference: Any, candidate: Any, *, classifier: bool) -> dict[str, Any]:
    """Max absolute difference and, for classifiers, the share of rows with the same label."""
    ref = output_array(reference)
    alt = output_array(candidate)
    result: dict[str, Any] = {"rows": int(len(ref)) if ref.ndim else 1}
    if ref.shape != alt.shape and ref.size == alt.size:
        alt = alt.reshape(ref.shape)
    if ref.shape != alt.shape:
        result["comparable"] = False
        result["reason"] = f"output shapes differ: {ref.shape} vs {alt.shape}"
        return result
    result["comparable"] = True
    numeric = np.issubdtype(ref.dtype, np.number) and np.issubdtype(alt.dtype, np.number)
    if numeric:
        ref_f = ref.astype(np.float64)
        alt_f = alt.astype(np.float64)
        both_nan = np.isnan(ref_f) & np.isnan(alt_f)
        diff = np.where(both_nan, 0.0, np.abs(ref_f - alt_f))
        result["max_abs_diff"] = float(np.nanmax(diff)) if diff.size else 0.0
        if np.isnan(diff).any():
            result["max_abs_diff"] = float("inf")
    else:
        result["max_abs_diff"] = 0.0 if np.array_equal(ref, alt) else float("inf")
    if classifier and ref.ndim >= 1 and len(ref):
        agree = labels_of(ref) == labels_of(alt)
        result["label_agreement"] = float(np.mean(agree))
    return result


# Methods whose outputs are scores: text or objects there are always wrong.
SCORE_METHODS = frozenset({"predict_proba", "predict_log_proba", "decision_function"})


@dataclass(frozen=True, kw_only=True, slots=True)
class OutputCheck:
    """What is wrong with one call's output, if anything.

    `invalid` problems (no output per row, unreadable, text or objects where numbers are
    expected) make per-row comparisons across batch sizes meaningless; `warnings` are worth
    saying but leave the measurements valid (text labels from a model that states no
    classes)."""

    rows: int | None  # the output's first dimension; None for a scalar or unreadable output
    shape: tuple[int, ...] | None
    dtype: str | None
    invalid: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # the invalid problems that are about the values, not the number of rows
    value_problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "shape": list(self.shape) if self.shape is not None else None,
            "dtype": self.dtype,
            "invalid": list(self.invalid),
            "warnings": list(self.warnings),
        }


def check_output(
    output: Any, rows: int, *, method: str, kind: str, classifier: bool, values: bool = True
) -> OutputCheck:
    """Check one call's output against the `rows` it was given: one output per row, and
    (with `values`) numbers where numbers are expected."""
    try:
        array = output_array(output)
    except (ValueError, TypeError) as exc:  # ragged lists, mixed containers
        return OutputCheck(
            rows=None,
            shape=None,
            dtype=None,
            invalid=(
                unreadable := f"{method} returned {_type_name(output)} that is not one "
                f"array ({_first_line(exc)})",
            ),
            value_problems=(unreadable,),
        )
    shape = tuple(int(n) for n in array.shape)
    out_rows = shape[0] if shape else None
    invalid: list[str] = []
    values_wrong: list[str] = []
    warnings: list[str] = []
    if out_rows is None:
        invalid.append(
            f"{method} returned one value ({_shown(array.item())}) for a batch of {rows} "
            "row(s), not one output per row"
        )
    elif out_rows != rows:
        invalid.append(
            f"{method} returned {out_rows} output row(s) (shape {list(shape)}) for a batch of "
            f"{rows} row(s); each row needs one output"
        )
    if values:
        problem, text = _value_problem(array)
        if problem is not None:
            numbers_expected = method in SCORE_METHODS or (kind == "sklearn" and not classifier)
            if not text or numbers_expected:
                why = f"{method} gives scores" if method in SCORE_METHODS else "numbers expected"
                values_wrong.append(f"{method} returned {problem} ({why})")
            elif not classifier:
                warnings.append(
                    f"{method} returned {problem}, and the model states no classes: the "
                    "outputs are compared as labels"
                )
    return OutputCheck(
        rows=out_rows,
        shape=shape,
        dtype=str(array.dtype),
        invalid=(*invalid, *values_wrong),
        warnings=tuple(warnings),
        value_problems=tuple(values_wrong),
    )


def _value_problem(array: np.ndarray) -> tuple[str | None, bool]:
    """A description of non-numeric values, and whether they are all text."""
    if array.dtype.kind in "biufc":
        return None, False
    if array.dtype.kind in "US":
        example = _shown(array.flat[0]) if array.size else "''"
        return f"text values such as {example}", True
    flat = list(array.ravel()[:1000])
    odd = [v for v in flat if not isinstance(v, int | float | complex | np.number | bool)]
    if not odd:
        return None, False
    if all(isinstance(v, str | bytes) for v in odd):
        return f"text values such as {_shown(odd[0])}", True
    first = next(v for v in odd if not isinstance(v, str | bytes))
    return f"Python objects ({_type_name(first)}, e.g. {_shown(first)})", False


def _type_name(value: Any) -> str:
    return type(value).__name__


def _shown(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
