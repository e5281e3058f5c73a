"""Comparing model outputs: normalising them to arrays and measuring parity between two runs."""

from __future__ import annotations

from typing import Any

import numpy as np


def output_array(output: Any) -> np.ndarray:
    """One numeric array from a model's output: probabilities when a classifier gives both."""
    if isinstance(output, dict) and output:  # named heads: the same choice over their values
        return output_array([output[key] for key in sorted(output)])
    if isinstance(output, list | tuple) and output and not np.isscalar(output[0]):
        arrays = [output_array(item) for item in output]
        floating = [a for a in arrays if np.issubdtype(a.dtype, np.floating) and a.ndim == 2]
        return floating[-1] if floating else arrays[0]
    if isinstance(output, list) and output and isinstance(output[0], dict):
        keys = sorted(output[0])
        return np.asarray([[row[k] for k in keys] for row in output], dtype=np.float64)
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
