"""Type changes and format differences, on real Parquet, CSV and JSONL files.

A numeric column that partly turned into text is a type change with its share of
non-numbers and examples; an all-empty column is 100% missing, not a type change; the same
categories written by different formats (booleans, numbers as text, padded text) are not
drift; categories that share nothing at all are an encoding difference, not drift.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infermedic.drift import drift
from infermedic.model import NotificationLevel, Report

N = 3000
JUNK = ("n/a", "12,5", "unknown")


def _codes(report: Report) -> set[tuple[str, str | None]]:
    return {(f.code, f.location.column_name) for f in report.findings}


def _write(path: Path, columns: dict[str, list[object]]) -> Path:
    """Write columns as the file's suffix says: Parquet via Arrow, CSV and JSONL by hand."""
    names = list(columns)
    rows = list(zip(*columns.values(), strict=True))
    if path.suffix == ".parquet":
        pq.write_table(pa.table({k: pa.array(v) for k, v in columns.items()}), path)
    elif path.suffix == ".csv":
        lines = [",".join(names)]
        for row in rows:
            cells = ["" if v is None else str(v) for v in row]
            lines.append(",".join(f'"{c}"' if "," in c else c for c in cells))
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text(
            "".join(json.dumps(dict(zip(names, row, strict=True))) + "\n" for row in rows)
        )
    return path


def _numbers_with_text(rng: np.random.Generator, share: float) -> list[object]:
    values: list[object] = [round(float(v), 3) for v in rng.normal(50, 5, N)]
    for i in np.flatnonzero(rng.random(N) < share):
        values[i] = JUNK[i % 3]
    return values


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_third_of_a_numeric_column_turned_text_is_a_type_change(
    suffix: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(101)
    ref = _write(
        tmp_path / "ref.parquet",
        {"amount": [float(v) for v in rng.normal(50, 5, N)], "k": rng.normal(size=N).tolist()},
    )
    amount = _numbers_with_text(rng, 1 / 3)
    if suffix == ".parquet":  # Parquet has one type per column: the whole column is text
        amount = [str(v) for v in amount]
    cur = _write(tmp_path / f"cur{suffix}", {"amount": amount, "k": rng.normal(size=N).tolist()})
    report = drift(ref, cur)
    schema = [f for f in report.findings if f.code == "DRIFT006"]
    assert [f.location.column_name for f in schema] == ["amount"]
    finding = schema[0]
    values = finding.evidence[0].values
    assert 0.30 < values["non_numeric_share"] < 0.37
    assert set(values["examples"]) == set(JUNK)
    assert "not numbers" in finding.message and "'n/a'" in finding.message
    assert finding.severity.name == "HIGH"
    # the numbers left are still compared (same distribution: no shift) and not as missing
    assert ("DRIFT001", "amount") not in _codes(report)
    assert ("DRIFT005", "amount") not in _codes(report)
    column = report.measurements["columns"]["amount"]
    assert column["kind"] == "numeric" and column["n_current"] == N - values["non_numeric_count"]


def test_text_in_a_numeric_column_is_found_against_a_saved_profile(tmp_path: Path) -> None:
    from infermedic.drift import profile_dataset
    from infermedic.drift.profile_file import save_profile

    rng = np.random.default_rng(102)
    ref = _write(tmp_path / "ref.csv", {"v": _numbers_with_text(rng, 0.0)})
    profile, _ = profile_dataset(ref)
    saved = tmp_path / "ref.profile"
    save_profile(profile, saved)
    cur = _write(tmp_path / "cur.csv", {"v": _numbers_with_text(rng, 0.1)})
    report = drift(saved, cur)
    assert _codes(report) == {("DRIFT006", "v")}
    assert 0.08 < report.findings[0].evidence[0].values["non_numeric_share"] < 0.12


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_text_after_the_readers_type_sample_is_still_found(suffix: str, tmp_path: Path) -> None:
    """DuckDB types CSV/JSON columns from the first 20,480 rows; text after them must not
    turn into a read error or be missed."""
    rng = np.random.default_rng(111)
    n = 26_000
    ref = _write(tmp_path / "ref.parquet", {"v": rng.normal(size=n).tolist()})
    values: list[object] = [round(float(x), 4) for x in rng.normal(size=n)]
    for i in range(23_000, n, 100):
        values[i] = "n/a"
    cur = _write(tmp_path / f"cur{suffix}", {"v": values})
    report = drift(ref, cur)
    assert _codes(report) == {("DRIFT006", "v")}
    assert report.findings[0].evidence[0].values["non_numeric_count"] == 30
    assert "'n/a' (0.1%)" in report.findings[0].message


def test_numbers_stored_as_text_are_compared_as_numbers_without_a_finding(tmp_path: Path) -> None:
    rng = np.random.default_rng(103)
    ref = _write(tmp_path / "ref.parquet", {"v": rng.normal(size=N).tolist()})
    cur = _write(tmp_path / "cur.jsonl", {"v": [f"{x:.6f}" for x in rng.normal(size=N)]})
    report = drift(ref, cur)
    assert report.findings == ()
    assert any("holds numbers as text" in n.message for n in report.notifications)
    shifted = _write(tmp_path / "shift.jsonl", {"v": [f"{x:.6f}" for x in rng.normal(1, 1, N)]})
    assert ("DRIFT001", "v") in _codes(drift(ref, shifted))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_an_all_empty_column_is_fully_missing_not_a_type_change(
    suffix: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(104)
    ref = _write(
        tmp_path / "ref.csv",
        {"age": rng.integers(18, 90, N).tolist(), "x": rng.normal(size=N).tolist()},
    )
    cur = _write(tmp_path / f"cur{suffix}", {"age": [None] * N, "x": rng.normal(size=N).tolist()})
    report = drift(ref, cur)
    assert _codes(report) == {("DRIFT005", "age")}
    assert "100.00%" in report.findings[0].message
    assert any("reader's guess" in n.message for n in report.notifications)


def test_an_all_empty_reference_column_is_not_a_type_change(tmp_path: Path) -> None:
    rng = np.random.default_rng(105)
    ref = _write(tmp_path / "ref.csv", {"a": [None] * N, "x": rng.normal(size=N).tolist()})
    cur = _write(
        tmp_path / "cur.csv", {"a": rng.normal(size=N).tolist(), "x": rng.normal(size=N).tolist()}
    )
    report = drift(ref, cur)
    assert _codes(report) == {("DRIFT005", "a")}


def _bools(rng: np.random.Generator, p: float = 0.3) -> list[bool]:
    return [bool(v) for v in rng.random(N) < p]


@pytest.mark.parametrize(
    ("suffix", "spell"),
    [
        (".csv", lambda b: "True" if b else "False"),
        (".csv", lambda b: "TRUE" if b else "FALSE"),
        (".csv", lambda b: "1" if b else "0"),
        (".jsonl", lambda b: "true" if b else "false"),
        (".jsonl", lambda b: 1 if b else 0),
        (".jsonl", lambda b: "1.0" if b else "0.0"),
        (".csv", lambda b: " true " if b else " false"),
    ],
)
def test_parquet_booleans_match_their_spellings_in_other_formats(
    suffix: str, spell: object, tmp_path: Path
) -> None:
    rng = np.random.default_rng(106)
    ref = _write(
        tmp_path / "ref.parquet", {"active": _bools(rng), "x": rng.normal(size=N).tolist()}
    )
    assert callable(spell)
    cur = _write(
        tmp_path / f"cur{suffix}",
        {"active": [spell(b) for b in _bools(rng)], "x": rng.normal(size=N).tolist()},
    )
    report = drift(ref, cur)
    assert report.findings == (), [f.message for f in report.findings]
    # the booleans really were compared, and a real shift in them is still found
    assert "jensen_shannon" in report.measurements["columns"]["active"]
    shifted = _write(
        tmp_path / f"shift{suffix}",
        {"active": [spell(b) for b in _bools(rng, 0.6)], "x": rng.normal(size=N).tolist()},
    )
    assert ("DRIFT001", "active") in _codes(drift(ref, shifted))


@pytest.mark.parametrize(
    ("suffix", "spell"),
    [
        (".csv", str),
        (".jsonl", str),
        (".jsonl", lambda v: f"{v}.0"),
        (".jsonl", float),
        (".csv", lambda v: f"  {v} "),
    ],
)
def test_integer_categories_match_numbers_stored_as_text(
    suffix: str, spell: object, tmp_path: Path
) -> None:
    rng = np.random.default_rng(107)
    plans = rng.integers(1, 6, N).tolist()
    ref = _write(tmp_path / "ref.parquet", {"plan": plans, "x": rng.normal(size=N).tolist()})
    assert callable(spell)
    cur_plans = [spell(v) for v in rng.integers(1, 6, N).tolist()]
    cur = _write(tmp_path / f"cur{suffix}", {"plan": cur_plans, "x": rng.normal(size=N).tolist()})
    report = drift(ref, cur, column_options=_categorical("plan"))
    assert report.findings == (), [f.message for f in report.findings]
    assert report.measurements["columns"]["plan"]["categories_current"] == 5


def _categorical(name: str) -> object:
    from infermedic.drift import ColumnOptions

    return ColumnOptions(categorical=frozenset({name}))


def test_padded_text_categories_match_and_the_merge_is_said(tmp_path: Path) -> None:
    rng = np.random.default_rng(108)
    colors = ["red", "green", "blue"]
    ref = _write(
        tmp_path / "ref.parquet",
        {"color": [colors[i] for i in rng.integers(0, 3, N)], "x": rng.normal(size=N).tolist()},
    )
    cur = _write(
        tmp_path / "cur.jsonl",
        {
            "color": [f" {colors[i]} " for i in rng.integers(0, 3, N)],
            "x": rng.normal(size=N).tolist(),
        },
    )
    report = drift(ref, cur)
    assert report.findings == ()
    notes = [n.message for n in report.notifications if n.level is NotificationLevel.NOTE]
    assert any("normalising" in m and "'red' = ' red '" in m for m in notes)


def test_new_categories_are_still_found_after_normalisation(tmp_path: Path) -> None:
    rng = np.random.default_rng(109)
    ref = _write(tmp_path / "ref.parquet", {"plan": rng.integers(1, 4, N).tolist()})
    cur_plans: list[object] = [str(v) for v in rng.integers(1, 4, N).tolist()]
    for i in range(0, N, 10):
        cur_plans[i] = "9"  # a real new category, 10% of rows
    cur = _write(tmp_path / "cur.csv", {"plan": cur_plans})
    report = drift(ref, cur, column_options=_categorical("plan"))
    assert ("DRIFT003", "plan") in _codes(report)
    new = next(f for f in report.findings if f.code == "DRIFT003")
    assert list(new.evidence[0].values["categories"]) == ["9"]


@pytest.mark.parametrize(
    ("ref_values", "cur_values", "why"),
    [
        (["a", "b", "c"], ["A", "B", "C"], "letter case"),
        (["0", "1", "2"], ["low", "mid", "high"], "encode this column differently"),
    ],
)
def test_disjoint_categories_are_an_encoding_difference_not_drift(
    ref_values: list[str], cur_values: list[str], why: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(110)
    pick = rng.integers(0, 3, N)
    ref = _write(
        tmp_path / "ref.parquet",
        {"level": [ref_values[i] for i in pick], "x": rng.normal(size=N).tolist()},
    )
    cur = _write(
        tmp_path / "cur.csv",
        {"level": [cur_values[i] for i in pick], "x": rng.normal(size=N).tolist()},
    )
    report = drift(ref, cur)
    assert report.findings == (), [f.message for f in report.findings]
    warnings = [n.message for n in report.notifications if n.level is NotificationLevel.WARNING]
    assert any("encoding or format difference suspected" in m and why in m for m in warnings)
