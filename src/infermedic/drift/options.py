"""Drift thresholds and switches, with their defaults and `[tool.infermedic.drift]` keys."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from infermedic.errors import ConfigError


class Correction(enum.StrEnum):
    BH = "bh"  # Benjamini-Hochberg: controls the false discovery rate
    BONFERRONI = "bonferroni"  # controls the family-wise error rate


@dataclass(frozen=True, kw_only=True)
class DriftOptions:
    """Every number that decides a finding. A finding needs BOTH an adjusted p-value below
    `alpha` and an effect at or above its floor: at a million rows a p-value alone flags
    shifts too small to matter, and an effect alone flags noise at a hundred rows."""

    alpha: float = 0.05
    correction: Correction = Correction.BH
    psi_threshold: float = 0.1  # PSI over 10 reference-quantile bins
    wasserstein_threshold: float = 0.05  # Wasserstein distance / reference standard deviation
    js_threshold: float = 0.05  # Jensen-Shannon distance (base 2) for categorical columns
    category_share_threshold: float = 0.005  # new or vanished categories' total share
    missing_rate_threshold: float = 0.01  # absolute change in the missing share
    out_of_range_threshold: float = 0.01  # share of current values outside the reference range
    exact_ks: bool = True
    exact_ks_max_rows: int = 20_000_000  # reference + current rows; above this, binned bounds
    min_rows: int = 100  # below this many rows in either dataset, warn that power is low
    max_plot_categories: int = 20

    def __post_init__(self) -> None:
        # the library's own callers get the same checks as the command line and config
        for name, value in ((f.name, getattr(self, f.name)) for f in fields(self)):
            if name in _FLOAT_RANGES:
                _float(value, name, "DriftOptions")
            elif name in _INT_RANGES:
                _int(value, name, "DriftOptions")

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any], *, source: str = "[tool.infermedic.drift]"
    ) -> DriftOptions:
        """Options from a config table whose keys are the field names in kebab or snake case."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(
                    f"{source}: unknown key {key!r}",
                    hint="known keys: " + ", ".join(n.replace("_", "-") for n in known),
                )
            values[name] = value
        return cls().with_values(values, source=source)

    def with_values(self, values: Mapping[str, Any], *, source: str = "options") -> DriftOptions:
        """These options with `values` (field name -> value; None keeps the default), each
        checked: a NaN, infinite, negative or out-of-range number is a `ConfigError` naming the
        option, never a threshold that silently flags everything or nothing."""
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue
            if name == "correction":
                try:
                    checked[name] = Correction(str(value).lower())
                except ValueError:
                    raise ConfigError(
                        f"{source}: correction must be 'bh' or 'bonferroni', not {value!r}"
                    ) from None
            elif name == "exact_ks":
                if not isinstance(value, bool):
                    raise ConfigError(f"{source}: exact_ks must be true or false, not {value!r}")
                checked[name] = value
            elif name in _INT_RANGES:
                checked[name] = _int(value, name, source)
            elif name in _FLOAT_RANGES:
                checked[name] = _float(value, name, source)
            else:
                raise ConfigError(f"{source}: unknown drift option {name!r}")
        return replace(self, **checked)


# (lowest, highest, lowest is allowed, highest is allowed) for every number
_FLOAT_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "alpha": (0.0, 1.0, False, False),
    "psi_threshold": (0.0, math.inf, True, False),
    "wasserstein_threshold": (0.0, math.inf, True, False),
    "js_threshold": (0.0, 1.0, True, True),  # a base-2 Jensen-Shannon distance is at most 1
    "category_share_threshold": (0.0, 1.0, True, True),
    "missing_rate_threshold": (0.0, 1.0, True, True),
    "out_of_range_threshold": (0.0, 1.0, True, True),
}
_INT_RANGES: dict[str, int] = {"exact_ks_max_rows": 0, "min_rows": 0, "max_plot_categories": 1}


def _float(value: Any, name: str, source: str) -> float:
    if isinstance(value, bool):  # TOML `true` is not a threshold
        raise ConfigError(f"{source}: {name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{source}: {name} must be a number, not {value!r}") from None
    low, high, low_ok, high_ok = _FLOAT_RANGES[name]
    if math.isnan(number):
        raise ConfigError(f"{source}: {name} must be a number, not NaN")
    if math.isinf(number):
        raise ConfigError(f"{source}: {name} must be finite, not {number}")
    if number < 0:
        raise ConfigError(f"{source}: {name} must not be negative ({number})")
    if (
        number < low
        or (number == low and not low_ok)
        or number > high
        or (number == high and not high_ok)
    ):
        lo = "[" if low_ok else "("
        hi = "]" if high_ok else ")"
        raise ConfigError(f"{source}: {name} must be in {lo}{low:g}, {high:g}{hi}, not {number:g}")
    return number


def _int(value: Any, name: str, source: str) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"{source}: {name} must be an integer, not {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{source}: {name} must be an integer, not {value!r}") from None
    if number < _INT_RANGES[name]:
        raise ConfigError(f"{source}: {name} must be at least {_INT_RANGES[name]}, not {number}")
    return number
