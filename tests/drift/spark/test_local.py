"""The Spark engine in local mode against the DuckDB engine: same counts, statistics, findings.

One SparkSession (local[2]) serves the whole module: a JVM start costs seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import datasketches
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infermedic.drift import drift, profile_dataset
from infermedic.drift.compare import compare_profiles
from infermedic.drift.options import DriftOptions
from infermedic.drift.profile import (
    KLL_K,
    ColumnKind,
    DatasetProfile,
    merge_profiles,
)
from infermedic.drift.profile_file import load_profile, save_profile
from infermedic.drift.spark import SparkEngine, SparkSettings, drift_on_spark, spark_session
from infermedic.drift.spark.profile import profile_on_spark
from infermedic.errors import DatasetError, EngineUnavailable

from .conftest import PLANTED, PlantedPair, finding_keys

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def engine(spark_available: None) -> Iterator[SparkEngine]:
    with spark_session(SparkSettings(master="local[2]")) as spark:
        yield SparkEngine(spark)


def _statistics(reference: DatasetProfile, current: DatasetProfile) -> dict[str, float]:
    """`column.statistic -> value` for every statistic the comparison computed from counts."""
    columns = compare_profiles(
        reference, current, options=DriftOptions(), predictions=("prediction",)
    ).measurements["columns"]
    keys = ("psi", "ks_statistic", "ks_lower", "ks_upper", "chi2", "chi2_p", "jensen_shannon")
    return {
        f"{name}.{k}": float(v[k])
        for name, v in columns.items()
        for k in keys
        if v.get(k) is not None
    }


def _assert_same_counts(duck: DatasetProfile, spark: DatasetProfile) -> None:
    assert duck.rows == spark.rows
    # Spark's JSON reader orders columns by name, DuckDB's as in the file: match by name
    assert sorted(c.name for c in duck.columns) == sorted(c.name for c in spark.columns)
    for d in duck.columns:
        s = spark.column(d.name)
        assert s is not None
        assert (d.kind, d.dtype, d.rows, d.nulls, d.non_finite) == (
            s.kind,
            s.dtype,
            s.rows,
            s.nulls,
            s.non_finite,
        ), d.name
        if d.kind is ColumnKind.NUMERIC:
            assert d.numeric is not None and s.numeric is not None
            assert d.numeric.binning is not None and s.numeric.binning is not None
            assert d.numeric.binning.edges == s.numeric.binning.edges
            assert d.numeric.binning.counts == s.numeric.binning.counts, d.name
            assert (d.numeric.count, d.numeric.minimum, d.numeric.maximum) == (
                s.numeric.count,
                s.numeric.minimum,
                s.numeric.maximum,
            )
            assert math.isclose(d.numeric.mean or 0, s.numeric.mean or 0, abs_tol=1e-12)
            assert math.isclose(d.numeric.variance or 0, s.numeric.variance or 0, rel_tol=1e-12)
        else:
            assert d.categorical is not None and s.categorical is not None
            assert dict(d.categorical.counts) == dict(s.categorical.counts), d.name


def test_spark_kll_sketch_bytes_are_datasketches_kll_both_ways(engine: SparkEngine) -> None:
    from pyspark.sql import functions as F

    values = np.random.default_rng(7).lognormal(size=5000)
    frame = engine.spark.createDataFrame([(float(v),) for v in values], "v double")
    raw = frame.agg(F.kll_sketch_agg_double("v", F.lit(KLL_K))).first()[0]  # type: ignore[index]
    sketch = datasketches.kll_doubles_sketch.deserialize(bytes(raw))
    assert (sketch.k, sketch.n) == (KLL_K, values.size)
    assert (sketch.get_min_value(), sketch.get_max_value()) == (values.min(), values.max())
    bound = datasketches.kll_doubles_sketch.get_normalized_rank_error(KLL_K, False)
    for rank in (0.1, 0.5, 0.9):
        exact_rank = float(np.mean(values <= sketch.get_quantile(rank)))
        assert abs(exact_rank - rank) <= bound
    # and back: a sketch built in Python is read by Spark's own KLL functions
    local = datasketches.kll_doubles_sketch(KLL_K)
    local.update(values)
    median = (
        engine.spark.createDataFrame([(bytearray(local.serialize()),)], "s binary")
        .select(F.kll_sketch_get_quantile_double("s", F.lit(0.5)))
        .first()[0]  # type: ignore[index]
    )
    assert median == local.get_quantile(0.5)
    sketch.merge(local)
    assert sketch.n == 2 * values.size


def test_counts_and_statistics_match_duckdb_on_the_same_edges(
    engine: SparkEngine, planted: PlantedPair
) -> None:
    reference, _ = profile_dataset(planted.reference)
    duck, _ = profile_dataset(planted.current, reference=reference)
    spark, _ = profile_on_spark(planted.current, engine=engine, reference=reference)
    assert spark.engine == "spark"
    _assert_same_counts(duck, spark)
    by_duck, by_spark = _statistics(reference, duck), _statistics(reference, spark)
    assert by_duck.keys() == by_spark.keys()
    assert any(key.endswith(".psi") for key in by_duck)
    assert any(key.endswith(".chi2") for key in by_duck)
    for key, value in by_duck.items():
        assert by_spark[key] == pytest.approx(value, abs=1e-9, rel=1e-9), key
    options = DriftOptions()
    assert finding_keys(compare_profiles(reference, duck, options=options)) == finding_keys(
        compare_profiles(reference, spark, options=options)
    )


def test_json_lines_logs_profile_like_their_parquet(
    engine: SparkEngine, planted: PlantedPair
) -> None:
    reference, _ = profile_dataset(planted.reference)
    from_json, _ = profile_on_spark(planted.current_jsonl, engine=engine, reference=reference)
    from_duckdb, _ = profile_dataset(planted.current_jsonl, reference=reference)
    _assert_same_counts(from_duckdb, from_json)


def test_drift_on_spark_flags_what_duckdb_flags(engine: SparkEngine, planted: PlantedPair) -> None:
    on_spark = drift_on_spark(planted.reference, planted.current, engine=engine)
    on_duckdb = drift(planted.reference, planted.current)
    assert finding_keys(on_spark) == finding_keys(on_duckdb) == PLANTED
    assert on_spark.measurements["engine"]["name"] == "spark"
    assert any("bounded from exact counts" in n.message for n in on_spark.notifications)
    # KS on Spark is an interval from 1000 exact bins; DuckDB's exact D lies inside it
    for column, values in on_duckdb.measurements["columns"].items():
        if values["kind"] != "numeric" or values.get("ks_statistic") is None:
            continue
        spark_values = on_spark.measurements["columns"][column]
        assert spark_values["ks_exact"] is False
        low, high = spark_values["ks_lower"], spark_values["ks_upper"]
        assert low - 1e-12 <= values["ks_statistic"] <= high + 1e-12, column


def test_merged_daily_profiles_equal_one_profile_of_all_days(
    engine: SparkEngine, planted: PlantedPair, tmp_path: Path
) -> None:
    reference, _ = profile_on_spark(planted.reference, engine=engine)
    days = []
    for i, day in enumerate(planted.days):
        profile, _ = profile_on_spark(day, engine=engine, reference=reference)
        save_profile(profile, tmp_path / f"day{i}.profile")  # through the file format
        days.append(load_profile(tmp_path / f"day{i}.profile"))
    merged = merge_profiles(days)
    whole, _ = profile_on_spark(planted.days[0].parent, engine=engine, reference=reference)
    for m, w in zip(merged.columns, whole.columns, strict=True):
        assert (m.name, m.rows, m.nulls, m.non_finite) == (w.name, w.rows, w.nulls, w.non_finite)
        if m.numeric is not None and w.numeric is not None:
            assert m.numeric.binning == w.numeric.binning
            assert m.numeric.count == w.numeric.count
            assert math.isclose(m.numeric.mean or 0, w.numeric.mean or 0, abs_tol=1e-12)
        if m.categorical is not None and w.categorical is not None:
            assert dict(m.categorical.counts) == dict(w.categorical.counts)
    by_merged, by_whole = _statistics(reference, merged), _statistics(reference, whole)
    assert by_merged.keys() == by_whole.keys()
    for key, value in by_whole.items():
        assert by_merged[key] == pytest.approx(value, abs=1e-9, rel=1e-9), key
    options = DriftOptions()
    assert finding_keys(compare_profiles(reference, merged, options=options)) == finding_keys(
        compare_profiles(reference, whole, options=options)
    )


def test_schema_change_and_all_null_column_are_reported_not_silent(
    engine: SparkEngine, planted: PlantedPair, tmp_path: Path
) -> None:
    table = pq.read_table(planted.current)
    n = table.num_rows
    changed = (
        table.drop_columns(["x_same"])
        .set_column(
            table.schema.get_field_index("x_int") - 1,
            "x_int",
            # a tenth of the numbers turned into text: a type change for both engines
            # (numbers that merely became text, all readable, are compared as numbers)
            pa.array(
                ["n/a" if i % 10 == 0 else str(v) for i, v in enumerate(table["x_int"].to_pylist())]
            ),
        )
        .append_column("x_added", pa.array(np.zeros(n)))
        .set_column(0, "x_shift", pa.nulls(n, pa.float64()))
    )
    path = tmp_path / "changed.parquet"
    pq.write_table(changed, path)
    report = drift_on_spark(planted.reference, path, engine=engine)
    keys = finding_keys(report)
    assert {("x_same", "DRIFT006"), ("x_added", "DRIFT006"), ("x_int", "DRIFT006")} <= keys
    assert ("x_shift", "DRIFT005") in keys
    assert any("x_shift" in n.message and "all missing" in n.message for n in report.notifications)
    assert finding_keys(drift(planted.reference, path)) == keys


def test_unreadable_inputs_are_clear_errors(
    engine: SparkEngine, planted: PlantedPair, tmp_path: Path
) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        drift_on_spark(planted.reference, tmp_path / "nope.parquet", engine=engine)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    with pytest.raises((DatasetError, EngineUnavailable), match="broken.parquet"):
        drift_on_spark(planted.reference, broken, engine=engine)
    with pytest.raises(DatasetError, match="table:no_such_db.t"):
        drift_on_spark(planted.reference, "table:no_such_db.t", engine=engine)
    delta = tmp_path / "events"
    (delta / "_delta_log").mkdir(parents=True)
    with pytest.raises(EngineUnavailable, match="no Delta Lake data source") as caught:
        drift_on_spark(planted.reference, delta, engine=engine)
    assert caught.value.hint is not None and "delta-spark" in caught.value.hint
    # the session survives a failed job and still profiles
    assert engine.spark.range(3).count() == 3
