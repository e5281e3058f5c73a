"""The arrow/numpy fast path against the exact reference computations it replaces.

Exact KS and Wasserstein against scipy; profiles against DuckDB's SQL passes on the same
Parquet file (the SQL path is chosen by making the columnar reader decline the file, the
switch the engine itself uses for CSV and JSON); edge cases: NaN, NULL, +-inf, constant and
all-NULL columns, values near the float limit, many categories, booleans, no current values.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats as sps

from infermedic.drift import DriftOptions, columnar, drift
from infermedic.drift import stats as drift_stats
from infermedic.drift.columnar import ParquetColumns, ks_wasserstein
from infermedic.drift.duckdb_engine import DuckDBEngine
from infermedic.drift.profile import DatasetProfile, quantile_edges
from infermedic.drift.sources import ColumnOptions, resolve_source


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(41)
    zero_inflated = rng.exponential(size=30_000)
    zero_inflated[rng.random(30_000) < 0.6] = 0.0
    return {
        "continuous": (rng.normal(size=3_000), rng.normal(0.1, 1.2, size=4_500)),
        "equal sizes": (rng.normal(size=5_000), rng.normal(0.05, 1, size=5_000)),
        "rounded ties": (np.round(rng.normal(size=8_000), 1), np.round(rng.normal(size=6_000), 1)),
        "poisson": (rng.poisson(3, 20_000) * 1.0, rng.poisson(3.3, 15_000) * 1.0),
        "zero inflated": (zero_inflated, zero_inflated[::3] * 1.1),
        "disjoint": (rng.normal(size=500), rng.normal(50, 1, size=700)),
        "one value each": (np.array([1.0]), np.array([2.0])),
        "both constant": (np.full(400, 7.0), np.full(300, 7.0)),
        "one constant": (np.full(400, 7.0), rng.normal(7, 1, 300)),
        "near the float limit": (
            rng.uniform(-1, 1, 2_000) * 1e300,
            rng.uniform(-1, 1, 2_500) * 1e300,
        ),
        "large, unequal": (rng.gamma(2, 1, 300_000), rng.gamma(2.02, 1, 250_001)),
    }


@pytest.mark.parametrize("case", list(_pairs()))
def test_exact_ks_and_wasserstein_equal_scipy(case: str) -> None:
    a, b = (np.sort(x) for x in _pairs()[case])
    d, w = ks_wasserstein(a, b)
    assert d == pytest.approx(float(sps.ks_2samp(a, b).statistic), abs=1e-12)
    assert w == pytest.approx(float(sps.wasserstein_distance(a, b)), rel=1e-9, abs=1e-12)


def test_no_values_on_one_side_is_no_statistic() -> None:
    assert all(math.isnan(x) for x in ks_wasserstein(np.empty(0), np.arange(3.0)))


def test_quantile_edges_are_the_inverted_cdf_quantiles() -> None:
    rng = np.random.default_rng(42)
    for values in (rng.normal(size=12_345), rng.poisson(2, 5_000) * 1.0, np.arange(7.0)):
        ordered = np.sort(values)
        fine, psi = quantile_edges(ordered)
        ranks = np.arange(1, 1000) / 1000
        expected = np.quantile(ordered, ranks, method="inverted_cdf")
        below = np.nextafter(ordered[0], -np.inf)
        assert fine == tuple(np.unique(np.concatenate(([below], expected, [ordered[-1]]))))
        assert psi == tuple(np.unique(expected[99::100]))


def test_asymptotic_ks_pvalue_stays_within_its_stated_tolerance_of_scipy() -> None:
    n = drift_stats.KS_ASYMP_N * 2 + 2  # effective size just above the switch (n*n/(2n))
    en = n // 2
    for z in (1.6, 2.2, 3.5):  # p from about 0.01 down to 1e-10
        d = z / math.sqrt(en)
        expected = float(sps.kstwo.sf(d, en))
        assert drift_stats.ks_pvalue(d, n, n) == pytest.approx(expected, rel=3e-3)
    assert drift_stats.ks_pvalue(0.5, n, n) == 0.0  # where scipy's own result underflows to 0


def _table(rows: int, seed: int, *, shift: float) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    with_nan = rng.normal(shift, 1, rows)
    with_nan[rng.random(rows) < 0.05] = np.nan
    with_nan[:3] = [np.inf, -np.inf, np.nan]
    ints = rng.poisson(4, rows)
    many = rng.integers(0, 1_500, rows)  # more than 1000 levels, fewer than half the rows
    return {
        "with_nan": with_nan,
        "with_null": pa.array(rng.normal(shift, 2, rows), mask=rng.random(rows) < 0.1),
        "ints": pa.array(ints, mask=rng.random(rows) < 0.02),
        "constant": np.full(rows, 3.5),
        "all_null": pa.array([None] * rows, type=pa.float64()),
        "huge": rng.uniform(-1, 1, rows) * 1e300 + shift * 1e299,
        "float32": rng.normal(shift, 1, rows).astype(np.float32),
        "many_levels": pa.array([f"level-{i}" for i in many], mask=rng.random(rows) < 0.03),
        "flag": pa.array(rng.random(rows) < 0.3 + shift, mask=rng.random(rows) < 0.01),
        "mixed": pa.array([str(i) if i % 7 else f"x{i}" for i in ints]),
        "ident": pa.array([f"id-{seed}-{i}" for i in range(rows)]),
    }


def _profiles(ref: Path, cur: Path, *, columnar: bool) -> tuple[DatasetProfile, DatasetProfile]:
    with DuckDBEngine() as engine:
        sources = resolve_source(ref), resolve_source(cur)
        if not columnar:
            for source in sources:
                engine._columnar[source] = None  # the SQL path, as for CSV and JSON
        plans = [engine.plan(s, ColumnOptions()) for s in sources]
        reference = engine.build_profile(sources[0], plans[0][0].kinds, plans[0][0].dtypes)
        current = engine.build_profile(
            sources[1], plans[1][0].kinds, plans[1][0].dtypes, reference=reference
        )
        assert plans[0][0].excluded == {"ident": plans[0][0].excluded["ident"]}
        return reference, current


def test_columnar_profiles_equal_the_sql_profiles(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    ref = write_parquet("ref.parquet", _table(6_000, 1, shift=0.0))
    cur = write_parquet("cur.parquet", _table(5_000, 2, shift=0.2))
    fast_ref, fast_cur = _profiles(ref, cur, columnar=True)
    sql_ref, sql_cur = _profiles(ref, cur, columnar=False)
    with DuckDBEngine() as engine:  # the SQL path binned on the columnar reference's edges
        source = resolve_source(cur)
        engine._columnar[source] = None
        plan, _ = engine.plan(source, ColumnOptions())
        sql_cur_same_edges = engine.build_profile(
            source, plan.kinds, plan.dtypes, reference=fast_ref
        )
    for fast, sql in ((fast_ref, sql_ref), (fast_cur, sql_cur), (fast_cur, sql_cur_same_edges)):
        # the SQL plan counts distinct values approximately (HyperLogLog), so the reasons'
        # numbers differ; which columns are left out does not
        assert fast.rows == sql.rows and fast.excluded.keys() == sql.excluded.keys()
        assert [c.name for c in fast.columns] == [c.name for c in sql.columns]
        for f, s in zip(fast.columns, sql.columns, strict=True):
            assert (f.kind, f.dtype, f.rows, f.nulls, f.non_finite) == (
                s.kind,
                s.dtype,
                s.rows,
                s.nulls,
                s.non_finite,
            ), f.name
            if f.categorical is not None and s.categorical is not None:
                assert dict(f.categorical.counts) == dict(s.categorical.counts), f.name
            if f.numeric is None or s.numeric is None:
                continue
            fn, sn = f.numeric, s.numeric
            assert (fn.count, fn.minimum, fn.maximum) == (sn.count, sn.minimum, sn.maximum)
            if sn.mean is None:
                assert fn.mean is None and fn.variance is None, f.name
            elif f.name != "huge":  # DuckDB's own moments overflow there (inf, NaN)
                assert fn.mean == pytest.approx(sn.mean, rel=1e-9, abs=1e-12), f.name
                assert fn.variance == pytest.approx(sn.variance, rel=1e-9, abs=1e-12), f.name
    huge = fast_ref.column("huge")
    assert huge is not None and huge.numeric is not None
    assert huge.numeric.mean is not None and math.isfinite(huge.numeric.mean)
    assert huge.numeric.variance is not None and math.isfinite(huge.numeric.variance)
    for f, s in zip(fast_cur.columns, sql_cur_same_edges.columns, strict=True):
        if f.numeric is not None and s.numeric is not None:
            assert f.numeric.binning == s.numeric.binning, f.name  # same edges, same counts


def test_drift_reports_scipy_values_through_the_fast_path(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    ref_data, cur_data = _table(6_000, 3, shift=0.0), _table(5_000, 4, shift=0.3)
    ref = write_parquet("ref.parquet", ref_data)
    cur = write_parquet("cur.parquet", cur_data)
    report = drift(ref, cur)
    columns = report.measurements["columns"]
    for name in ("with_nan", "with_null", "ints", "float32"):
        a = pq.read_table(ref, columns=[name]).column(0).to_numpy(zero_copy_only=False)
        b = pq.read_table(cur, columns=[name]).column(0).to_numpy(zero_copy_only=False)
        a, b = (np.asarray(x, dtype=np.float64) for x in (a, b))
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        expected = sps.ks_2samp(a, b)
        assert columns[name]["ks_exact"] is True
        assert columns[name]["ks_statistic"] == pytest.approx(expected.statistic, abs=1e-12)
        assert columns[name]["ks_p"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
        assert columns[name]["wasserstein"] == pytest.approx(
            sps.wasserstein_distance(a, b), rel=1e-9
        )
    assert "with_nan" in {f.location.column_name for f in report.findings}
    notes = " ".join(n.message for n in report.notifications)
    assert "'all_null' has no values in the reference data" in notes
    assert "'mixed' mixes types" in notes


def test_no_current_values_and_saved_profiles_take_the_same_path(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    rng = np.random.default_rng(5)
    ref = write_parquet("ref.parquet", {"x": rng.normal(size=4_000), "c": ["a", "b"] * 2_000})
    cur = write_parquet(
        "cur.parquet",
        {
            "x": pa.array([None] * 3_000, type=pa.float64()),
            "c": pa.array([None] * 3_000, pa.string()),
        },
    )
    report = drift(ref, cur, options=DriftOptions())
    notes = " ".join(n.message for n in report.notifications)
    assert "'x' has no values in the current data" in notes
    assert "'c' has no values in the current data" in notes
    assert {f.code for f in report.findings} == {"DRIFT005"}
    reader = ParquetColumns.open(resolve_source(cur))
    assert reader is not None and reader.numeric("x") and reader.text("c")


def test_a_parquet_drift_run_imports_neither_pandas_nor_scipy_stats(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    # Their imports cost more CPU than a 100,000-row comparison; a change that brings one
    # back (an Arrow to_numpy, a scipy.stats call) shows here. Above KS_FAST_N, with NULLs,
    # integers and text columns, against raw data and against a saved profile.
    rng = np.random.default_rng(5)
    rows = 30_000
    tables = []
    for shift in (0.0, 0.3):
        floats = rng.normal(shift, 1, rows)
        floats[rng.random(rows) < 0.05] = np.nan
        tables.append(
            {
                "f": pa.array(floats, from_pandas=True),
                "i": rng.poisson(4 + shift, rows),
                "c": pa.array(rng.choice(["a", "b", "c"], rows)),
            }
        )
    ref, cur = write_parquet("ref.parquet", tables[0]), write_parquet("cur.parquet", tables[1])
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from infermedic.drift import drift, profile_dataset\n"
        "from infermedic.drift.profile_file import save_profile\n"
        "from infermedic.report import OutputFormat, render\n"
        f"ref, cur = {str(ref)!r}, {str(cur)!r}\n"
        "save_profile(profile_dataset(ref)[0], Path(ref + '.profile'))\n"
        "for reference in (ref, ref + '.profile'):\n"
        "    report = drift(reference, cur)\n"
        "    assert report.findings, 'the shift shows'\n"
        "    render(report, OutputFormat.JSON)\n"
        "print(sorted(m for m in ('pandas', 'scipy.stats') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_float_values_of_sliced_arrays_with_nulls_match_arrow() -> None:
    values = [1.5, None, 3.0, None, -2.0, 7.0, None, 0.25, 9.0, 11.0]
    for array in (pa.array(values), pa.array([None if v is None else int(v) for v in values])):
        for start, stop in ((0, 10), (1, 9), (3, 4), (5, 10), (2, 2)):
            piece = array.slice(start, stop - start)
            expected = [math.nan if v is None else float(v) for v in piece.to_pylist()]
            got = columnar._float_values(piece)
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got, np.asarray(expected, dtype=np.float64))


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(7).normal(3.0, 2.0, 10_001),
        np.full(50, -4.25),
        np.array([2.5]),
        np.random.default_rng(8).uniform(-1, 1, 3_000) * 1e300,  # squares overflow: not in place
        np.random.default_rng(9).uniform(-1, 1, 3_000) * 1e150,  # the in-place bound's edge
        np.empty(0),
    ],
    ids=["normal", "constant", "one", "near the float limit", "1e150", "empty"],
)
def test_stats_that_consume_the_values_equal_stats_that_keep_them(values: np.ndarray) -> None:
    edges = tuple(float(e) for e in np.quantile(values, [0.2, 0.5, 0.9])) if values.size else None
    kept = columnar.SortedColumn(rows=values.size + 3, nulls=2, values=np.sort(values))
    consumed = columnar.SortedColumn(rows=values.size + 3, nulls=2, values=np.sort(values))
    expected = kept.stats(edges)
    np.testing.assert_array_equal(kept.values, np.sort(values))  # kept means untouched
    assert consumed.stats(edges, consume=True) == expected  # bit for bit, overflow-safe
    if expected.mean is not None:
        assert expected.variance is not None and math.isfinite(expected.variance)
