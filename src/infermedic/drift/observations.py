"""What a drift comparison measured, per column, as typed frozen data the DRIFT rules judge.

The measuring side (`measure.observe`, from two profiles) produces one `DriftObservations`;
every DRIFT rule reads only that (`check(observations) -> Iterable[Finding]`). It holds raw
p-values; the multiple-testing correction across all tests of the run is derived here on
demand (`adjusted_p`), so a recorded observation can be judged again under other options.

It round-trips through JSON (`to_json`/`from_json`, with `format` and `schema_version`):
a recorded observation is a rule's test fixture, and a saved run can be judged again.
Non-finite floats are written as the strings "NaN", "Infinity" and "-Infinity".

This module stays light (no numpy, DuckDB or pydantic at import): the rule catalogue, which
every command loads, imports it.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal

from infermedic.drift.options import DriftOptions
from infermedic.errors import DatasetError

OBSERVATIONS_FORMAT = "infermedic-drift-observations"
SCHEMA_VERSION = 1

Kind = Literal["numeric", "categorical"]


class ColumnRole(enum.StrEnum):
    FEATURE = "feature"
    PREDICTION = "prediction"
    TARGET = "target"


class TestKey(enum.StrEnum):
    """The tests a column can have; every one joins the run's multiple-testing correction."""

    OUT_OF_RANGE = "out_of_range"
    DISTRIBUTION = "distribution"
    NEW_CATEGORIES = "new_categories"
    VANISHED_CATEGORIES = "vanished_categories"
    MISSING = "missing"


@dataclass(frozen=True, kw_only=True)
class Histogram:
    """Shares of rows per bin (numeric) or per category (the most frequent ones), for plots."""

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class MissingStats:
    """Missing (NULL, NaN, +-inf) rows on each side and the two-proportion test between them."""

    rows_reference: int
    rows_current: int
    missing_reference: int
    missing_current: int
    p_value: float

    @property
    def share_reference(self) -> float:
        return self.missing_reference / self.rows_reference if self.rows_reference else math.nan

    @property
    def share_current(self) -> float:
        return self.missing_current / self.rows_current if self.rows_current else math.nan


@dataclass(frozen=True, kw_only=True)
class NumericShift:
    """The two-sample statistics of a numeric column with numbers on both sides."""

    psi: float
    psi_bins: int
    psi_edges: tuple[float, ...]
    out_of_range_share: float
    out_of_range_count: int
    out_of_range_p: float
    ks_statistic: float  # exact D, or the lower bound from bins (what the data proves)
    ks_exact: bool
    ks_lower: float
    ks_upper: float
    ks_bins: int | None  # bins the bound came from; None when exact
    ks_p: float
    wasserstein: float
    wasserstein_exact: bool
    wasserstein_lower: float | None  # bounds when computed from bins
    wasserstein_upper: float | None
    wasserstein_std: float  # Wasserstein / reference standard deviation (inf: constant ref)
    histogram: Histogram


@dataclass(frozen=True, kw_only=True)
class NumericStats:
    """A numeric column's moments on each side, and its shift statistics when computable."""

    n_reference: int  # finite values
    n_current: int
    mean_reference: float | None
    mean_current: float | None
    std_reference: float | None
    std_current: float | None
    min_reference: float | None
    max_reference: float | None
    min_current: float | None
    max_current: float | None
    shift: NumericShift | None  # None: a side has no numbers, or no bins or sketch


@dataclass(frozen=True, kw_only=True)
class CategoryShift:
    """The homogeneity test, Jensen-Shannon, and new and vanished categories of a column."""

    chi2: float
    chi2_p: float
    chi2_dof: int
    jensen_shannon: float
    new_categories: Mapping[str, float]  # value -> share of current rows, most frequent first
    vanished_categories: Mapping[str, float]  # value -> share of reference rows
    new_share: float
    vanished_share: float
    new_p: float | None  # None when there is no new category
    vanished_p: float | None
    histogram: Histogram


@dataclass(frozen=True, kw_only=True)
class CategoricalStats:
    n_reference: int  # present values
    n_current: int
    categories_reference: int
    categories_current: int
    counts_error_bound: int | None  # rows, when counts came from a frequent-items sketch
    encoding_mismatch: bool  # no category shared even after normalising: not compared
    shift: CategoryShift | None


@dataclass(frozen=True, kw_only=True)
class ColumnStats:
    """Everything measured about one column present, with one kind, on both sides."""

    name: str
    role: ColumnRole
    kind: Kind
    missing: MissingStats
    numeric: NumericStats | None = None
    categorical: CategoricalStats | None = None
    # what the measurement could not do or did approximately (notification warnings) ...
    warnings: tuple[str, ...] = ()
    # ... and what it did that is worth saying (notification notes)
    remarks: tuple[str, ...] = ()

    def p_values(self) -> tuple[tuple[TestKey, float], ...]:
        """This column's tests in a fixed order (the order the report lists them)."""
        tests: list[tuple[TestKey, float]] = []
        if self.numeric is not None and self.numeric.shift is not None:
            shift = self.numeric.shift
            tests += [
                (TestKey.OUT_OF_RANGE, shift.out_of_range_p),
                (TestKey.DISTRIBUTION, shift.ks_p),
            ]
        if self.categorical is not None and self.categorical.shift is not None:
            cats = self.categorical.shift
            tests.append((TestKey.DISTRIBUTION, cats.chi2_p))
            if cats.new_p is not None:
                tests.append((TestKey.NEW_CATEGORIES, cats.new_p))
            if cats.vanished_p is not None:
                tests.append((TestKey.VANISHED_CATEGORIES, cats.vanished_p))
        tests.append((TestKey.MISSING, self.missing.p_value))
        return tuple(tests)

    @property
    def is_output(self) -> bool:
        """A model output (prediction) or the label: judged by DRIFT002, not as an input."""
        return self.role is not ColumnRole.FEATURE


@dataclass(frozen=True, kw_only=True)
class ColumnSchema:
    """A column's name and type as one dataset holds it, and what its values read as."""

    name: str
    dtype: str  # the source's type name (DOUBLE, VARCHAR, BIGINT ...)
    kind: Kind
    numeric_type: bool  # `dtype` is a numeric storage type (not numbers held as text)
    rows: int
    nulls: int
    unparsed: int = 0  # text values in a column read as numbers
    unparsed_examples: Mapping[str, int] = field(default_factory=dict)
    numbers: int = 0  # finite numbers read (numeric columns)

    @property
    def has_values(self) -> bool:
        return self.rows - self.nulls > 0


@dataclass(frozen=True, kw_only=True)
class DatasetSummary:
    label: str
    rows: int
    sources: tuple[str, ...]
    columns: tuple[ColumnSchema, ...]
    excluded: Mapping[str, str] = field(default_factory=dict)  # column -> why left out

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True, kw_only=True)
class DriftObservations:
    """One comparison's measurements and the options it is judged with."""

    # pydantic (de)serialises these dataclasses; non-finite floats become strings in JSON
    __pydantic_config__: ClassVar[Mapping[str, Any]] = {"ser_json_inf_nan": "strings"}

    options: DriftOptions = field(default_factory=DriftOptions)
    reference: DatasetSummary
    current: DatasetSummary
    predictions: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    columns: tuple[ColumnStats, ...] = ()  # compared columns, in the reference's order

    @cached_property
    def _adjusted(self) -> Mapping[tuple[str, TestKey], float]:
        from infermedic.drift import stats

        keys = [(c.name, key) for c in self.columns for key, _ in c.p_values()]
        raw = [p for c in self.columns for _, p in c.p_values()]
        adjusted = stats.adjust_pvalues(raw, self.options.correction.value)
        return dict(zip(keys, adjusted, strict=True))

    def adjusted_p(self, column: str, test: TestKey) -> float:
        """The p-value of `test` on `column` adjusted across every test of the run (NaN when
        the test did not run)."""
        return self._adjusted.get((column, test), math.nan)

    @property
    def test_count(self) -> int:
        return sum(len(c.p_values()) for c in self.columns)

    @property
    def absent_targets(self) -> tuple[str, ...]:
        """Targets in the reference but not the current data: labels arrive after predictions,
        so that is expected, not a schema change."""
        reference = {c.name for c in self.reference.columns}
        current = {c.name for c in self.current.columns}
        return tuple(sorted(t for t in self.targets if t in reference - current))

    def with_options(self, options: DriftOptions) -> DriftObservations:
        """The same measurements, judged with other options."""
        return DriftObservations(
            options=options,
            reference=self.reference,
            current=self.current,
            predictions=self.predictions,
            targets=self.targets,
            columns=self.columns,
        )

    def to_json(self) -> str:
        data = {"format": OBSERVATIONS_FORMAT, "schema_version": SCHEMA_VERSION}
        body = json.loads(_adapter().dump_json(self))
        return json.dumps({**data, **body}, indent=1, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, *, source: str = "observations") -> DriftObservations:
        """Read observations written by `to_json`; anything else is a one-line `DatasetError`."""
        from pydantic import ValidationError

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{source} is not JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(data, dict) or data.get("format") != OBSERVATIONS_FORMAT:
            raise DatasetError(f"{source} is not a drift observations file")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise DatasetError(
                f"{source} has drift observations schema {data.get('schema_version')!r}; "
                f"this version reads schema {SCHEMA_VERSION}",
                hint="record the observations again with this version",
            )
        body = {k: v for k, v in data.items() if k not in {"format", "schema_version"}}
        try:
            observations: DriftObservations = _adapter().validate_python(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DatasetError(
                f"{source} holds damaged drift observations: {where}: {first['msg']}"
            ) from None
        return observations


def _adapter() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(DriftObservations)


__all__ = [
    "OBSERVATIONS_FORMAT",
    "SCHEMA_VERSION",
    "CategoricalStats",
    "CategoryShift",
    "ColumnRole",
    "ColumnSchema",
    "ColumnStats",
    "DatasetSummary",
    "DriftObservations",
    "Histogram",
    "MissingStats",
    "NumericShift",
    "NumericStats",
    "TestKey",
]
