"""Drift thresholds and switches, with their defaults and `[tool.infermedic.drift]` keys."""

from __future__ import annotations

import enum
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
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue
            if name == "correction":
                try:
                    checked[name] = Correction(str(value).lower())
                except ValueError:
                    raise ConfigError(
                        f"{source}: correction must be 'bh' or 'bonferroni'"
                    ) from None
            elif name in {"exact_ks"}:
                checked[name] = bool(value)
            elif name in {"exact_ks_max_rows", "min_rows", "max_plot_categories"}:
                checked[name] = _int(value, name, source)
            else:
                number = _float(value, name, source)
                if name == "alpha" and not 0.0 < number < 1.0:
                    raise ConfigError(f"{source}: alpha must be between 0 and 1")
                checked[name] = number
        return replace(self, **checked)


def _float(value: Any, name: str, source: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {name} must be a number, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"{source}: {name} must not be negative")
    return number


def _int(value: Any, name: str, source: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {name} must be an integer, not {value!r}") from None
