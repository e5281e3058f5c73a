"""Plain Parquet without DuckDB: the schema, text counts and number checks the columnar
reader does itself, each against what DuckDB says of the same file, and a drift run that
imports neither DuckDB, scipy, DataSketches, pyarrow.compute nor pyarrow.parquet; the
private pyarrow reader against the public one."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from infermedic.drift import columnar, parquet_files
from infermedic.drift.columnar import ParquetColumns
from infermedic.drift.duckdb_engine import _MAYBE_NUMBER
from infermedic.drift.sources import resolve_source
from infermedic.errors import DatasetError


def test_schema_from_the_footer_is_what_duckdb_describes(tmp_path: Path) -> None:
    n = 4
    table = pa.table(
        {
            "i8": pa.array([1, 2, None, 4], pa.int8()),
            "i16": pa.array(range(n), pa.int16()),
            "i32": pa.array(range(n), pa.int32()),
            "i64": pa.array(range(n), pa.int64()),
            "u8": pa.array(range(n), pa.uint8()),
            "u16": pa.array(range(n), pa.uint16()),
            "u32": pa.array(range(n), pa.uint32()),
            "u64": pa.array(range(n), pa.uint64()),
            "f32": pa.array([0.5] * n, pa.float32()),
            "f64": pa.array([0.5] * n, pa.float64()),
            "s": pa.array(["a", None, "b", "c"]),
            "ls": pa.array(["a", "b", "c", "d"], pa.large_string()),
            "b": pa.array([True, False, None, True]),
        }
    )
    path = tmp_path / "types.parquet"
    pq.write_table(table, path)
    source = resolve_source(path)
    ours = ParquetColumns.open(source)
    assert ours is not None
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM {source.table_sql()}").fetchall()
    assert ours.duckdb_schema() == [(str(r[0]), str(r[1])) for r in described]
    # a type the mapping does not know leaves the description to DuckDB
    odd = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"t": pa.array([1, 2], pa.timestamp("ms")), "x": [1.0, 2.0]}), odd)
    other = ParquetColumns.open(resolve_source(odd))
    assert other is not None and other.duckdb_schema() is None


def test_text_that_is_no_number_to_the_prefilter_is_none_to_duckdb() -> None:
    values = [
        "1", "c0", "1_000", " 1 ", "\t2\n", "0x10", "1e5", "Inf", "-infinity", "NaN", "+.5",
        "\u0661", "1,5", "1.2.3", "e", "", "  ", "1e", "--1", "1d", "\uff11", "1\v", "\f3",
        "\u00a01", "5%", "$5", "1 000", "+inf", "nAn", "info", "1/2", "1E+05", "-0", "0b1",
        "1_", "_1", ".", "+", "1.e3", "abc1", "inf1", "0o7", "1j", "NULL", "true", "\u00bd",
        "\u00b2", "1\u200b", "c3_39", "NEW_CAT", "v_12", "2024-01-01", "12:30",
    ]  # fmt: skip
    con = duckdb.connect()
    for value in values:
        number = con.execute("SELECT TRY_CAST(? AS DOUBLE)", [value]).fetchone()
        assert number is not None
        if number[0] is not None:
            assert _MAYBE_NUMBER.search(value), value


def _arrow_counts(array: pa.ChunkedArray) -> dict[str | None, int]:
    if pa.types.is_boolean(array.type):
        array = pc.cast(array, pa.string())
    counts = pc.value_counts(array)
    return {
        None if v is None else str(v): int(n)
        for v, n in zip(
            counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
        )
    }


@pytest.mark.parametrize("distinct", [3, 200, 150_000])
def test_value_counts_match_arrow_across_row_groups(tmp_path: Path, distinct: int) -> None:
    rng = np.random.default_rng(distinct)
    rows = 300_000
    words = np.array([f"w{i}" for i in range(distinct)], dtype=object)
    text = words[rng.integers(0, distinct, rows)].tolist()
    mask = rng.random(rows) < 0.03
    flags = rng.random(rows) < 0.3
    table = pa.table(
        {
            "s": pa.array(text, mask=mask),
            "b": pa.array(flags, mask=rng.random(rows) < 0.02),
            "dense": pa.array(text),
        }
    )
    path = tmp_path / "text.parquet"
    pq.write_table(table, path, row_group_size=70_000)  # dictionaries differ per row group
    columns = ParquetColumns.open(resolve_source(path))
    assert columns is not None
    for name in ("s", "b", "dense"):
        expected = Counter(_arrow_counts(table.column(name)))
        assert Counter(columns.value_counts(name)) == expected, name


def test_integer_values_come_out_as_floats_with_nulls(tmp_path: Path) -> None:
    for kind in (pa.int8(), pa.uint16(), pa.int32(), pa.uint64(), pa.float32()):
        array = pa.array([1, None, 3, 120, None, 7], kind)
        for start, stop in ((0, 6), (1, 5), (4, 6)):
            piece = array.slice(start, stop - start)
            expected = [np.nan if v is None else float(v) for v in piece.to_pylist()]
            np.testing.assert_array_equal(columnar._float_values(piece), expected)


def test_a_parquet_drift_imports_no_duckdb_scipy_or_sketches(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = 20_000
    paths = []
    for shift in (0.0, 0.4):
        table = pa.table(
            {
                "f": rng.normal(shift, 1, rows),
                "i": rng.poisson(4 + shift, rows),
                "c": pa.array(rng.choice(["a1", "b2", "c3"], rows)),
                "flag": pa.array(rng.random(rows) < 0.3 + shift / 4),
            }
        )
        paths.append(tmp_path / f"{shift}.parquet")
        pq.write_table(table, paths[-1])
    ref, cur = (str(p) for p in paths)
    profile = tmp_path / "ref.profile"
    build = (
        "from pathlib import Path\n"
        "from infermedic.drift import profile_dataset\n"
        "from infermedic.drift.profile_file import save_profile\n"
        f"save_profile(profile_dataset({ref!r})[0], Path({str(profile)!r}))\n"
    )
    subprocess.run([sys.executable, "-c", build], check=True, timeout=300)
    # pyarrow.parquet brings pyarrow's filesystems, which import ssl (see parquet_files)
    heavy = ("duckdb", "scipy", "pandas", "pyarrow.compute", "pyarrow.parquet", "ssl")
    heavy += ("datasketches",)
    for reference, exact in ((ref, True), (ref, False), (str(profile), False)):
        script = (
            "import sys\n"
            "from infermedic.drift import DriftOptions, drift\n"
            "from infermedic.report import OutputFormat, render\n"
            f"report = drift({reference!r}, {cur!r}, options=DriftOptions(exact_ks={exact}))\n"
            "assert {'DRIFT001'} <= {f.code for f in report.findings}, report.findings\n"
            "render(report, OutputFormat.JSON)\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        loaded = done.stdout.strip().splitlines()[-1]
        # a saved profile's sketches are checked when it is read: DataSketches loads there
        expected = "['datasketches']" if reference.endswith(".profile") else "[]"
        assert loaded == expected, (reference, loaded)


def test_the_private_reader_reads_what_pyarrow_parquet_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(12)
    rows = 3_000
    table = pa.table(
        {
            "f": pa.array(rng.normal(size=rows), mask=rng.random(rows) < 0.1),
            "i": rng.integers(-5, 5, rows).astype(np.int16),
            "s": pa.array(rng.choice(["x", "yy", "zzz"], rows), mask=rng.random(rows) < 0.05),
            "b": pa.array(rng.random(rows) < 0.4),
        }
    )
    path = str(tmp_path / "t.parquet")
    pq.write_table(table, path, row_group_size=700)
    public = pq.read_metadata(path)
    private = parquet_files.read_metadata(path)
    assert private.equals(public) and private.num_row_groups == 5
    for name in table.column_names:
        for dictionary in (False, True):
            got = parquet_files.read_column(path, private, name, dictionary=dictionary)
            monkeypatch.setattr(parquet_files, "_ParquetReader", None)  # the public fallback
            fallback = parquet_files.read_column(path, public, name, dictionary=dictionary)
            monkeypatch.undo()
            expected = pq.ParquetFile(path, read_dictionary=[name] if dictionary else None).read(
                columns=[name]
            )
            assert got.equals(expected) and fallback.equals(expected), (name, dictionary)
            assert got.column(0).num_chunks == expected.column(0).num_chunks
    monkeypatch.setattr(parquet_files, "_ParquetReader", None)
    assert parquet_files.read_metadata(path).equals(public)


def _cores(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    from infermedic.profile import cores

    real = cores.available_cores()
    monkeypatch.setattr(
        cores, "available_cores", lambda: dataclasses.replace(real, cores=n, affinity=n)
    )


def test_column_threads_change_nothing_but_the_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report of a one-core process (columns one after another) and of a four-core one
    (columns on `MAX_COLUMN_THREADS` threads) are the same, text and numbers, NULLs and row
    groups included."""
    from infermedic.drift import DriftOptions, drift
    from infermedic.report import OutputFormat, render

    rng = np.random.default_rng(7)
    for name, shift in (("ref", 0.0), ("cur", 0.3)):
        n = 60_000
        x = rng.normal(shift, 1, n)
        x[rng.random(n) < 0.05] = np.nan
        table = pa.table(
            {
                "a": pa.array(x, mask=np.isnan(x)),
                "b": rng.exponential(1 + shift, n),
                "k": rng.integers(0, 50, n),
                "s": pa.array(rng.choice(["x", "y", "z", "w" if shift else "x"], n)),
                "t": pa.array([str(i % 97) for i in range(n)]),
            }
        )
        pq.write_table(table, tmp_path / f"{name}.parquet", row_group_size=7_000)
    out = {}
    for threads in (1, 4):
        _cores(monkeypatch, threads)
        report = drift(tmp_path / "ref.parquet", tmp_path / "cur.parquet", options=DriftOptions())
        data = json.loads(render(report, OutputFormat.JSON))
        for key in ("started_at", "duration_s"):
            data.pop(key, None)
        out[threads] = data
    assert out[1]["findings"], "the shifted columns must give findings to compare"
    assert out[1] == out[4]


@pytest.mark.parametrize("threads", [1, 3])
def test_column_work_keeps_order_and_raises_the_first_error(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    from infermedic.drift.duckdb_engine import _map_columns

    _cores(monkeypatch, threads)
    names = [f"c{i}" for i in range(7)]
    assert list(_map_columns(str.upper, names)) == [n.upper() for n in names]

    def fails(name: str) -> str:
        if name in ("c3", "c5"):
            raise DatasetError(f"cannot read {name}")
        return name

    with pytest.raises(DatasetError, match="cannot read c3"):
        list(_map_columns(fails, names))
