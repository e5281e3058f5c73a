"""Record the DRIFT rule fixtures in tests/fixtures/drift/ from seeded data.

Each scenario writes a small reference and current dataset (Parquet, CSV or JSONL, real
files read by the DuckDB engine), measures them with `observe_drift` and stores the typed
observations with the findings and notifications the rule named by the file gives today.
Run `python -m tests.drift.recorded` to record them again (after a change to what is
measured); review the diff of `expect` by hand: a fixture is a claim about the rule.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "drift"
N = 5000
Columns = dict[str, list[Any]]


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str  # the fixture's file name without `.json`: CODE[_variant][_ok]
    description: str
    data: Callable[[np.random.Generator], tuple[Columns, Columns]]
    current_format: str = "parquet"  # parquet | csv | jsonl
    predictions: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    reference_as_profile: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def _normal(rng: np.random.Generator, mean: float, sd: float, n: int = N) -> list[float]:
    return [float(v) for v in rng.normal(mean, sd, n)]


def _choice(rng: np.random.Generator, values: list[str], p: list[float], n: int = N) -> list[str]:
    return [str(v) for v in rng.choice(values, n, p=p)]


def _with_share(values: list[Any], share: float, value: Any, rng: np.random.Generator) -> list[Any]:
    out = list(values)
    for i in np.flatnonzero(rng.random(len(out)) < share):
        out[i] = value
    return out


def _mean_shift(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"age": _normal(rng, 40, 10), "income": _normal(rng, 50, 5)},
        {"age": _normal(rng, 44, 10), "income": _normal(rng, 50, 5)},
    )


def _category_mix(rng: np.random.Generator) -> tuple[Columns, Columns]:
    plans = ["basic", "plus", "pro"]
    return (
        {"plan": _choice(rng, plans, [0.5, 0.3, 0.2])},
        {"plan": _choice(rng, plans, [0.3, 0.3, 0.4])},
    )


def _same(rng: np.random.Generator) -> tuple[Columns, Columns]:
    plans = ["basic", "plus", "pro"]
    return (
        {"age": _normal(rng, 40, 10), "plan": _choice(rng, plans, [0.5, 0.3, 0.2])},
        {"age": _normal(rng, 40, 10), "plan": _choice(rng, plans, [0.5, 0.3, 0.2])},
    )


def _tiny(rng: np.random.Generator) -> tuple[Columns, Columns]:
    # a real half-sd shift, a category that moved and a new one: 25 rows cannot tell
    return (
        {
            "age": _normal(rng, 40, 10, 25),
            "plan": _choice(rng, ["basic", "pro"], [0.6, 0.4], 25),
            "score": _normal(rng, 0.3, 0.1, 25),
        },
        {
            "age": _normal(rng, 45, 10, 25),
            "plan": _choice(rng, ["basic", "pro", "team"], [0.5, 0.4, 0.1], 25),
            "score": _normal(rng, 0.35, 0.1, 25),
        },
    )


def _constant_same(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"version": [7.0] * N, "x": _normal(rng, 0, 1)},
        {"version": [7.0] * N, "x": _normal(rng, 0, 1)},
    )


def _constant_moved(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"version": [7.0] * N, "x": _normal(rng, 0, 1)},
        {"version": [8.0] * N, "x": _normal(rng, 0, 1)},
    )


def _all_null(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"income": _normal(rng, 50, 5), "plan": _choice(rng, ["a", "b"], [0.5, 0.5])},
        {"income": [None] * N, "plan": [None] * N},
    )


def _prediction_shift(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"x": _normal(rng, 0, 1), "prediction": [float(v) for v in rng.beta(2, 5, N)]},
        {"x": _normal(rng, 0, 1), "prediction": [float(v) for v in rng.beta(5, 2, N)]},
    )


def _new_class(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"x": _normal(rng, 0, 1), "label": _choice(rng, ["approve", "review"], [0.8, 0.2])},
        {
            "x": _normal(rng, 0, 1),
            "label": _choice(rng, ["approve", "review", "reject"], [0.76, 0.19, 0.05]),
        },
    )


def _outputs_outside(rng: np.random.Generator) -> tuple[Columns, Columns]:
    # the top 3% of scores moved 0.03 up, past the reference's maximum: the shape barely moves
    current = [float(v) for v in rng.uniform(0, 1, N)]
    current = [v + 0.03 if v > 0.97 else v for v in current]
    return (
        {"x": _normal(rng, 0, 1), "score": [float(v) for v in rng.uniform(0, 1, N)]},
        {"x": _normal(rng, 0, 1), "score": current},
    )


def _target_shift(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"x": _normal(rng, 0, 1), "churned": _choice(rng, ["no", "yes"], [0.9, 0.1])},
        {"x": _normal(rng, 0, 1), "churned": _choice(rng, ["no", "yes"], [0.75, 0.25])},
    )


def _new_category(rng: np.random.Generator) -> tuple[Columns, Columns]:
    plans = ["basic", "plus", "pro"]
    return (
        {"plan": _choice(rng, plans, [0.5, 0.3, 0.2])},
        {"plan": _choice(rng, [*plans, "enterprise"], [0.48, 0.28, 0.19, 0.05])},
    )


def _rare_new_category(rng: np.random.Generator) -> tuple[Columns, Columns]:
    n = 20_000
    plans = ["basic", "plus", "pro"]
    current = _choice(rng, plans, [0.5, 0.3, 0.2], n)
    for i in rng.choice(n, 20, replace=False):  # 0.1% of rows
        current[int(i)] = "enterprise"
    return ({"plan": _choice(rng, plans, [0.5, 0.3, 0.2], n)}, {"plan": current})


def _vanished(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"region": _choice(rng, ["north", "south", "east", "west"], [0.4, 0.3, 0.25, 0.05])},
        {"region": _choice(rng, ["north", "south", "east"], [0.42, 0.32, 0.26])},
    )


def _missing_jump(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"income": _with_share(_normal(rng, 50, 5), 0.02, None, rng)},
        {"income": _with_share(_normal(rng, 50, 5), 0.15, None, rng)},
    )


def _missing_same(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"income": _with_share(_normal(rng, 50, 5), 0.05, None, rng)},
        {"income": _with_share(_normal(rng, 50, 5), 0.05, None, rng)},
    )


def _missing_tiny(rng: np.random.Generator) -> tuple[Columns, Columns]:
    ref = _normal(rng, 50, 5, 30)
    cur = _normal(rng, 50, 5, 30)
    ref[3] = None  # type: ignore[call-overload]
    for i in (2, 9, 17):
        cur[i] = None  # type: ignore[call-overload]
    return ({"income": ref}, {"income": cur})


def _schema_moved(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {
            "age": _normal(rng, 40, 10),
            "legacy_score": _normal(rng, 0, 1),
            "zip": [int(v) for v in rng.integers(1000, 9999, N)],
        },
        {
            "age": _normal(rng, 40, 10),
            "channel": _choice(rng, ["web", "app"], [0.5, 0.5]),
            "zip": [float(v) for v in rng.integers(1000, 9999, N)],
        },
    )


def _numbers_to_text(rng: np.random.Generator) -> tuple[Columns, Columns]:
    amount: list[Any] = [round(v, 3) for v in _normal(rng, 50, 5)]
    for i in np.flatnonzero(rng.random(N) < 0.2):
        amount[i] = ["n/a", "unknown", "-"][i % 3]
    return ({"amount": _normal(rng, 50, 5)}, {"amount": amount})


def _numbers_as_text(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"amount": _normal(rng, 50, 5)},
        {"amount": [f"{v:.3f}" for v in _normal(rng, 50, 5)]},
    )


def _empty_column(rng: np.random.Generator) -> tuple[Columns, Columns]:
    return (
        {"age": _normal(rng, 40, 10), "coupon": _normal(rng, 5, 1)},
        {"age": _normal(rng, 40, 10), "coupon": [None] * N},
    )


def _outside(rng: np.random.Generator) -> tuple[Columns, Columns]:
    current = [float(v) for v in rng.uniform(10, 120, N)]
    for i in np.flatnonzero(rng.random(N) < 0.2):
        current[i] = float(rng.uniform(120, 200))
    return (
        {"monthly_charges": [float(v) for v in rng.uniform(10, 120, N)]},
        {"monthly_charges": current},
    )


def _outside_tiny(rng: np.random.Generator) -> tuple[Columns, Columns]:
    current = [float(v) for v in rng.uniform(10, 120, 20)]
    current[0], current[1] = 130.0, 5.0
    return (
        {"monthly_charges": [float(v) for v in rng.uniform(10, 120, 20)]},
        {"monthly_charges": current},
    )


SCENARIOS = (
    Scenario(
        name="DRIFT001_mean_shift", description="age's mean moved by 0.4 sd", data=_mean_shift
    ),
    Scenario(
        name="DRIFT001_category_mix",
        description="a categorical feature's mix moved",
        data=_category_mix,
    ),
    Scenario(name="DRIFT001_ok", description="same distributions, 5000 rows", data=_same),
    Scenario(
        name="DRIFT001_tiny_sample_ok",
        description="a real shift in 25 rows: under-powered, must not confirm drift",
        data=_tiny,
    ),
    Scenario(
        name="DRIFT001_constant_ok",
        description="a constant column, the same constant on both sides",
        data=_constant_same,
    ),
    Scenario(
        name="DRIFT001_constant_moved",
        description="a constant column whose constant changed",
        data=_constant_moved,
    ),
    Scenario(
        name="DRIFT001_all_null_ok",
        description="columns all null in the current data: nothing to compare but the missing rate",
        data=_all_null,
    ),
    Scenario(
        name="DRIFT001_from_profile",
        description="mean shift against a saved reference profile: KS bounded from bins",
        data=_mean_shift,
        reference_as_profile=True,
    ),
    Scenario(
        name="DRIFT001_prediction_column_ok",
        description="the shift is on the model output: DRIFT002's, not DRIFT001's",
        data=_prediction_shift,
        predictions=("prediction",),
    ),
    Scenario(
        name="DRIFT002_numeric_prediction",
        description="the prediction column's distribution moved",
        data=_prediction_shift,
        predictions=("prediction",),
    ),
    Scenario(
        name="DRIFT002_new_class",
        description="the model predicts a class never seen in the reference (5%)",
        data=_new_class,
        predictions=("label",),
    ),
    Scenario(
        name="DRIFT002_out_of_range",
        description="3% of the model's scores above the reference's maximum",
        data=_outputs_outside,
        predictions=("score",),
    ),
    Scenario(
        name="DRIFT002_target",
        description="the label's base rate moved (label shift)",
        data=_target_shift,
        targets=("churned",),
    ),
    Scenario(
        name="DRIFT002_ok",
        description="the prediction column did not move; an input did",
        data=_mean_shift,
        predictions=("income",),
    ),
    Scenario(
        name="DRIFT002_tiny_sample_ok",
        description="a moved output in 25 rows: under-powered",
        data=_tiny,
        predictions=("score",),
    ),
    Scenario(
        name="DRIFT003_new_category",
        description="'enterprise' appears in 5% of current rows",
        data=_new_category,
    ),
    Scenario(
        name="DRIFT003_rare_new_category_ok",
        description="a new category at 0.1% share: significant at 20000 rows, below the 0.5% floor",
        data=_rare_new_category,
    ),
    Scenario(name="DRIFT003_ok", description="the same categories", data=_same),
    Scenario(
        name="DRIFT003_tiny_sample_ok",
        description="one new category in 25 rows: under-powered",
        data=_tiny,
    ),
    Scenario(
        name="DRIFT003_prediction_column_ok",
        description="the new category is a predicted class: DRIFT002's",
        data=_new_class,
        predictions=("label",),
    ),
    Scenario(
        name="DRIFT004_vanished",
        description="'west' (5% of the reference) no longer occurs",
        data=_vanished,
    ),
    Scenario(name="DRIFT004_ok", description="no category vanished", data=_same),
    Scenario(
        name="DRIFT005_missing_jump",
        description="income missing in 2% -> 15% of rows",
        data=_missing_jump,
    ),
    Scenario(
        name="DRIFT005_all_null", description="columns all null in the current data", data=_all_null
    ),
    Scenario(name="DRIFT005_ok", description="5% missing on both sides", data=_missing_same),
    Scenario(
        name="DRIFT005_tiny_sample_ok",
        description="1 -> 3 missing of 30 rows: under-powered",
        data=_missing_tiny,
    ),
    Scenario(
        name="DRIFT006_removed_added",
        description="a column removed, one added, one stored as another numeric type",
        data=_schema_moved,
    ),
    Scenario(
        name="DRIFT006_numbers_to_text",
        description="a fifth of a numeric column turned into text in a CSV",
        data=_numbers_to_text,
        current_format="csv",
    ),
    Scenario(
        name="DRIFT006_numbers_as_text_ok",
        description="numbers stored as text that all read as numbers",
        data=_numbers_as_text,
    ),
    Scenario(
        name="DRIFT006_empty_column_ok",
        description="an all-empty CSV column: its type is the reader's guess",
        data=_empty_column,
        current_format="csv",
    ),
    Scenario(name="DRIFT006_ok", description="same columns, same types", data=_same),
    Scenario(
        name="DRIFT007_outside",
        description="20% of monthly charges above the reference's maximum",
        data=_outside,
    ),
    Scenario(
        name="DRIFT007_constant_moved",
        description="a constant column whose constant changed: every value outside",
        data=_constant_moved,
    ),
    Scenario(name="DRIFT007_ok", description="values within the reference range", data=_same),
    Scenario(
        name="DRIFT007_tiny_sample_ok",
        description="2 of 20 values outside the range of 20: chance level",
        data=_outside_tiny,
    ),
    Scenario(
        name="DRIFT007_prediction_column_ok",
        description="the values outside are the model's scores: DRIFT002's",
        data=_outputs_outside,
        predictions=("score",),
    ),
)


def _write(path: Path, columns: Columns) -> None:
    if path.suffix == ".parquet":
        pq.write_table(pa.table(columns), path)
    elif path.suffix == ".csv":
        names = list(columns)
        lines = [",".join(names)]
        lines += [
            ",".join("" if v is None else str(v) for v in row)
            for row in zip(*columns.values(), strict=True)
        ]
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text(
            "".join(
                json.dumps(dict(zip(columns, row, strict=True))) + "\n"
                for row in zip(*columns.values(), strict=True)
            )
        )


@contextmanager
def _inside(directory: Path) -> Iterator[None]:
    """Data are named relative to `directory`, so labels in the fixtures carry no temp path."""
    before = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def record(scenario: Scenario, directory: Path) -> dict[str, Any]:
    """The fixture document of one scenario."""
    from infermedic.drift import observe_drift, profile_dataset
    from infermedic.drift.options import DriftOptions
    from infermedic.drift.profile_file import save_profile
    from infermedic.drift.sources import ColumnOptions

    rng = np.random.default_rng(sum(scenario.name.encode()))
    reference_columns, current_columns = scenario.data(rng)
    directory.mkdir(parents=True, exist_ok=True)
    with _inside(directory):
        reference = Path("reference.parquet")
        current = Path(f"current.{scenario.current_format}")
        _write(reference, reference_columns)
        _write(current, current_columns)
        columns = ColumnOptions(predictions=scenario.predictions, targets=scenario.targets)
        if scenario.reference_as_profile:
            profile, _ = profile_dataset(reference, column_options=columns)
            reference = Path("reference.profile")
            save_profile(profile, reference)
        observations = observe_drift(
            reference,
            current,
            options=DriftOptions().with_values(scenario.options),
            column_options=columns,
        )
    document = json.loads(observations.to_json())
    document.pop("options")  # judged with today's defaults (and the fixture's `options`)
    fixture = {
        "description": scenario.description,
        "recorded": "python -m tests.drift.recorded (seeded data, DuckDB engine)",
        "options": scenario.options,
        "observations": document,
    }
    fixture["expect"] = judged(fixture, scenario.name.split("_")[0])
    return fixture


def observations_of(fixture: dict[str, Any]) -> Any:
    """The fixture's observations, judged with today's defaults and its own `options`."""
    from infermedic.drift.observations import DriftObservations
    from infermedic.drift.options import DriftOptions

    recorded = DriftObservations.from_json(json.dumps(fixture["observations"]))
    return recorded.with_options(DriftOptions().with_values(fixture.get("options") or {}))


def judged(fixture: dict[str, Any], code: str) -> dict[str, Any]:
    """What the rule `code` alone gives on the fixture: every finding (code, column,
    severity, message, what its evidence observed) and every notification."""
    from infermedic.drift.compare import judge, selected_rules

    comparison = judge(observations_of(fixture), rules=selected_rules((code,)))
    return {
        "findings": [
            {
                "code": f.code,
                "column": f.location.column_name,
                "severity": f.severity.name.lower(),
                "message": f.message,
                "observed": [e.observed for e in f.evidence],
            }
            for f in comparison.findings
        ],
        "notifications": [f"{n.level.value}: {n.message}" for n in comparison.notifications],
    }


def main(argv: list[str]) -> int:
    import tempfile

    wanted = set(argv)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in SCENARIOS:
            if wanted and scenario.name not in wanted:
                continue
            fixture = record(scenario, Path(tmp) / scenario.name)
            path = FIXTURES / f"{scenario.name}.json"
            path.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
            print(f"{path.name}: {[f['code'] for f in fixture['expect']['findings']]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
