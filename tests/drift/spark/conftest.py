"""Spark test helpers: a clear failure (CI) or skip (elsewhere) without pyspark/Java, and
seeded reference/current data with known, planted drift, written as real Parquet."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infermedic.drift.spark.session import require_java, require_pyspark
from infermedic.errors import EngineUnavailable

ROWS = 4000

# (column, code) pairs the planted changes must produce, whichever engine profiles them.
PLANTED = {
    ("x_shift", "DRIFT001"),
    ("x_range", "DRIFT001"),
    ("x_range", "DRIFT007"),
    ("x_missing", "DRIFT005"),
    ("cat_new", "DRIFT001"),
    ("cat_new", "DRIFT003"),
    ("cat_new", "DRIFT004"),
    # the prediction's shift and its values outside the reference range: both DRIFT002
    ("prediction", "DRIFT002"),
}


def spark_missing() -> str | None:
    try:
        require_pyspark()
        require_java()
    except EngineUnavailable as exc:
        return f"{exc} ({exc.hint})"
    return None


@pytest.fixture(scope="session")
def spark_available() -> None:
    """Skip where Spark cannot run; in CI (CI or INFERMEDIC_REQUIRE_SPARK set), fail instead."""
    missing = spark_missing()
    if missing is None:
        return
    if os.environ.get("CI") or os.environ.get("INFERMEDIC_REQUIRE_SPARK"):
        pytest.fail(f"the Spark tests must run here but cannot: {missing}")
    pytest.skip(f"Spark tests need pyspark>=4.1 and Java 17+: {missing}")


def _column(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(values, mask=missing)


def make_table(rng: np.random.Generator, n: int, *, current: bool) -> pa.Table:
    """One side of the planted pair; `current=True` carries the changes in `PLANTED`."""
    shift = 0.5 if current else 0.0
    x_missing = rng.normal(size=n)
    nan_share, null_share = (0.05, 0.10) if current else (0.01, 0.0)
    x_missing[rng.random(n) < nan_share] = np.nan
    zeros = rng.random(n) < 0.6
    x_zero = np.where(zeros, np.where(rng.random(n) < 0.5, -0.0, 0.0), rng.exponential(size=n))
    x_zero[:3] = [np.inf, -np.inf, np.nan]
    categories = np.array(["a", "b", "c", "d"])
    p_ref, p_cur = [0.4, 0.3, 0.2, 0.1], [0.5, 0.4, 0.0, 0.1]
    cat_new = categories[rng.choice(4, size=n, p=p_cur if current else p_ref)]
    if current:
        cat_new = np.where(rng.random(n) < 0.05, "NEW", cat_new)
    columns = {
        "x_shift": _column(rng.normal(loc=shift, size=n)),
        "x_same": _column(rng.normal(size=n)),
        "x_missing": _column(x_missing, rng.random(n) < null_share),
        "x_range": _column(rng.uniform(0.1 if current else 0.0, 1.1 if current else 1.0, size=n)),
        "x_zero": _column(x_zero),
        "x_int": _column(rng.poisson(3, size=n).astype(np.int64)),
        "cat_new": _column(cat_new),
        "cat_same": _column(np.array(["u", "v", "w"])[rng.integers(0, 3, size=n)]),
        "flag": _column(rng.random(n) < 0.3),
        "prediction": _column(rng.normal(loc=1.0 if current else 0.0, size=n)),
        "request_id": _column(np.array([f"r{i}" for i in range(n)])),
    }
    return pa.table(columns)


@dataclass(frozen=True, kw_only=True)
class PlantedPair:
    reference: Path
    current: Path
    days: tuple[Path, ...]  # the current data split into three daily files
    current_jsonl: Path


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> PlantedPair:
    root = tmp_path_factory.mktemp("spark-drift")
    rng = np.random.default_rng(20261123)
    reference = make_table(rng, ROWS, current=False)
    current = make_table(rng, ROWS, current=True)
    pq.write_table(reference, root / "reference.parquet")
    pq.write_table(current, root / "current.parquet")
    day_dir = root / "days"
    day_dir.mkdir()
    days = []
    for i, start in enumerate(range(0, ROWS, ROWS // 3 + 1)):
        path = day_dir / f"day{i}.parquet"
        pq.write_table(current.slice(start, ROWS // 3 + 1), path)
        days.append(path)
    jsonl = root / "current.jsonl"
    # JSON has no NaN/inf: this copy holds the columns JSON carries exactly (repr round-trips).
    rows = current.select(["x_shift", "x_same", "cat_new", "cat_same", "prediction"]).to_pylist()
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return PlantedPair(
        reference=root / "reference.parquet",
        current=root / "current.parquet",
        days=tuple(days),
        current_jsonl=jsonl,
    )


def finding_keys(report: object) -> set[tuple[str, str]]:
    return {
        (f.location.column_name or "", f.code)
        for f in report.findings  # type: ignore[attr-defined]
    }
