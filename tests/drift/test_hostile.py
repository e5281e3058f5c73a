"""Hostile and broken inputs through the real `infermedic drift` entry point.

Every case must end as a report (exit 0 or 1) or as one `error:` line (plus at most one
`hint:` line) with exit 2: never a traceback, never a hang. The files are real files written
into a temporary directory; the CLI runs in-process through `main`, the same function the
console script calls, so an exception escaping it fails the test with its traceback.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infermedic.cli.app import main

Maker = Callable[[Path], tuple[Path, Path]]
N = 400


def _rng(seed: int = 7) -> np.random.Generator:
    return np.random.default_rng(seed)


def _good_csv(path: Path, n: int = N, seed: int = 7) -> Path:
    rng = _rng(seed)
    rows = "".join(f"{rng.normal():.4f},{'abc'[i % 3]}\n" for i in range(n))
    path.write_text("x,c\n" + rows)
    return path


def _good_parquet(path: Path, n: int = N, seed: int = 7) -> Path:
    rng = _rng(seed)
    pq.write_table(pa.table({"x": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n)}), path)
    return path


def _good_jsonl(path: Path, n: int = N, seed: int = 7) -> Path:
    rng = _rng(seed)
    path.write_text(
        "".join(json.dumps({"x": float(rng.normal()), "c": "abc"[i % 3]}) + "\n" for i in range(n))
    )
    return path


def _against_good(write: Callable[[Path], Path], name: str) -> Maker:
    def make(tmp: Path) -> tuple[Path, Path]:
        return _good_csv(tmp / "ref.csv"), write(tmp / name)

    return make


def _as_reference(write: Callable[[Path], Path], name: str) -> Maker:
    def make(tmp: Path) -> tuple[Path, Path]:
        return write(tmp / name), _good_csv(tmp / "cur.csv")

    return make


def _bytes(data: bytes) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return write


def _text(data: str) -> Callable[[Path], Path]:
    return _bytes(data.encode())


def _truncated_parquet(path: Path) -> Path:
    whole = _good_parquet(path).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _empty_parquet(path: Path) -> Path:
    pq.write_table(
        pa.table({"x": pa.array([], pa.float64()), "c": pa.array([], pa.string())}), path
    )
    return path


def _parquet_named_csv(path: Path) -> Path:
    path.write_bytes(_good_parquet(path.with_suffix(".parquet")).read_bytes())
    return path


def _csv_named_parquet(path: Path) -> Path:
    path.write_bytes(_good_csv(path.with_suffix(".csv")).read_bytes())
    return path


def _jsonl_broken_middle(path: Path) -> Path:
    lines = _good_jsonl(path).read_text().splitlines()
    lines[len(lines) // 2] = '{"x": 1.0, "c": "a"'  # cut off mid-object
    path.write_text("\n".join(lines) + "\n")
    return path


def _jsonl_non_object_line(path: Path) -> Path:
    lines = _good_jsonl(path).read_text().splitlines()
    lines[10] = "[1, 2, 3]"
    lines[20] = "42"
    path.write_text("\n".join(lines) + "\n")
    return path


def _jsonl_huge_value(path: Path) -> Path:
    rng = _rng()
    rows = [{"x": float(rng.normal()), "c": "abc"[i % 3]} for i in range(N)]
    rows[5]["c"] = "z" * 3_000_000
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _huge_single_line(path: Path) -> Path:
    path.write_text("x," * 400_000 + "x")  # one 800 KB header line, no rows
    return path


def _huge_single_row(path: Path) -> Path:
    path.write_text("x,c\n" + "1.0," + "y" * 2_000_000 + "\n")
    return path


def _ragged_csv(path: Path) -> Path:
    good = _good_csv(path).read_text().splitlines()
    good[7] = good[7] + ",extra,fields"
    good[9] = "onlyone"
    path.write_text("\n".join(good) + "\n")
    return path


def _nul_bytes_csv(path: Path) -> Path:
    data = bytearray(_good_csv(path).read_bytes())
    data[200:210] = b"\x00" * 10
    path.write_bytes(bytes(data))
    return path


def _utf16_csv(path: Path) -> Path:
    path.write_bytes(_good_csv(path).read_text().encode("utf-16"))
    return path


def _latin1_csv(path: Path) -> Path:
    rng = _rng()
    rows = "".join(f"{rng.normal():.4f},{'é' if i % 2 else 'ü'}\n" for i in range(N))
    path.write_bytes(("x,c\n" + rows).encode("latin-1"))
    return path


def _bom_csv(path: Path) -> Path:
    path.write_bytes(b"\xef\xbb\xbf" + _good_csv(path).read_bytes())
    return path


def _duplicate_header(path: Path) -> Path:
    rng = _rng()
    rows = "".join(f"{rng.normal():.4f},{rng.normal():.4f},{'ab'[i % 2]}\n" for i in range(N))
    path.write_text("x,x,c\n" + rows)
    return path


def _blank_header(path: Path) -> Path:
    rng = _rng()
    rows = "".join(f"{rng.normal():.4f},{'ab'[i % 2]},{i}\n" for i in range(N))
    path.write_text("x,,\n" + rows)
    return path


def _nested_jsonl(path: Path) -> Path:
    rng = _rng()
    path.write_text(
        "".join(
            json.dumps({"x": float(rng.normal()), "c": {"deep": [i, {"k": "v"}]}}) + "\n"
            for i in range(N)
        )
    )
    return path


def _deep_json_line(path: Path) -> Path:
    lines = _good_jsonl(path).read_text().splitlines()
    lines[3] = '{"x": 1.0, "c": ' + "[" * 5000 + "]" * 5000 + "}"
    path.write_text("\n".join(lines) + "\n")
    return path


def _all_null_jsonl(path: Path) -> Path:
    path.write_text("".join(json.dumps({"x": None, "c": None}) + "\n" for _ in range(N)))
    return path


def _all_inf_csv(path: Path) -> Path:
    path.write_text("x,c\n" + "".join(f"inf,{'abc'[i % 3]}\n" for i in range(N)))
    return path


def _fake_gzip(path: Path) -> Path:
    path.write_bytes(_good_csv(path.with_suffix("")).read_bytes())  # plain text named .gz
    return path


def _real_gzip(path: Path) -> Path:
    path.write_bytes(gzip.compress(_good_csv(path.with_suffix("")).read_bytes()))
    return path


def _json_array_file(path: Path) -> Path:
    rng = _rng()
    path.write_text(json.dumps([{"x": float(rng.normal()), "c": "ab"[i % 2]} for i in range(N)]))
    return path


def _odd_column_names(path: Path) -> Path:
    rng = _rng()
    rows = "".join(f"{rng.normal():.4f},{'ab'[i % 2]}\n" for i in range(N))
    path.write_text('"we""ird\nname",\x1b[31mred\n' + rows)
    return path


def _wide_csv(path: Path) -> Path:
    rng = _rng()
    cols = 300
    header = ",".join(f"f{j}" for j in range(cols))
    body = "\n".join(",".join(f"{v:.3f}" for v in rng.normal(size=cols)) for _ in range(150))
    path.write_text(header + "\n" + body + "\n")
    return path


def _directory_without_data(path: Path) -> Path:
    path.mkdir()
    (path / "notes.txt").write_text("nothing here")
    (path / "model.py").write_text("print('hi')\n")
    return path


def _mixed_directory(path: Path) -> Path:
    path.mkdir()
    _good_csv(path / "a.csv")
    _good_parquet(path / "b.parquet")
    return path


def _directory_one_bad_file(path: Path) -> Path:
    path.mkdir()
    _good_jsonl(path / "a.jsonl")
    _jsonl_broken_middle(path / "b.jsonl")
    return path


def _no_common_columns(tmp: Path) -> tuple[Path, Path]:
    rng = _rng()
    ref = tmp / "ref.parquet"
    cur = tmp / "cur.parquet"
    pq.write_table(pa.table({"a": rng.normal(size=N)}), ref)
    pq.write_table(pa.table({"b": rng.normal(size=N)}), cur)
    return ref, cur


def _same_file(tmp: Path) -> tuple[Path, Path]:
    path = _good_parquet(tmp / "same.parquet")
    return path, path


def _profile_as_current(tmp: Path) -> tuple[Path, Path]:
    ref = _good_csv(tmp / "ref.csv")
    profile = tmp / "cur.profile"
    with pytest.raises(SystemExit) as done:
        main(["drift", "profile", str(ref), "-o", str(profile)])
    assert done.value.code == 0
    return ref, profile


def _missing(tmp: Path) -> tuple[Path, Path]:
    return _good_csv(tmp / "ref.csv"), tmp / "nope.csv"


def _glob_no_match(tmp: Path) -> tuple[Path, Path]:
    return _good_csv(tmp / "ref.csv"), Path(str(tmp / "logs" / "*.parquet"))


CASES: dict[str, Maker] = {
    "empty current csv": _against_good(_bytes(b""), "cur.csv"),
    "empty reference csv": _as_reference(_bytes(b""), "ref.csv"),
    "header-only csv": _against_good(_text("x,c\n"), "cur.csv"),
    "only newlines csv": _against_good(_text("\n\n\n\n"), "cur.csv"),
    "binary junk named csv": _against_good(_bytes(_rng(3).bytes(20_000)), "cur.csv"),
    "binary junk named parquet": _against_good(_bytes(_rng(4).bytes(20_000)), "cur.parquet"),
    "binary junk named jsonl": _against_good(_bytes(_rng(5).bytes(20_000)), "cur.jsonl"),
    "python file as current": _against_good(_text("import os\nprint(os.getcwd())\n"), "cur.py"),
    "python file as reference": _as_reference(_text("def f(x):\n    return x\n"), "ref.py"),
    "truncated parquet": _against_good(_truncated_parquet, "cur.parquet"),
    "zero-row parquet": _against_good(_empty_parquet, "cur.parquet"),
    "parquet named csv": _against_good(_parquet_named_csv, "cur.csv"),
    "csv named parquet": _against_good(_csv_named_parquet, "cur.parquet"),
    "jsonl broken line in the middle": _against_good(_jsonl_broken_middle, "cur.jsonl"),
    "jsonl array and number lines": _against_good(_jsonl_non_object_line, "cur.jsonl"),
    "jsonl 3 MB value": _against_good(_jsonl_huge_value, "cur.jsonl"),
    "jsonl 5000-deep nesting": _against_good(_deep_json_line, "cur.jsonl"),
    "jsonl nested objects": _against_good(_nested_jsonl, "cur.jsonl"),
    "jsonl all null": _against_good(_all_null_jsonl, "cur.jsonl"),
    "huge single header line": _against_good(_huge_single_line, "cur.csv"),
    "huge single row": _against_good(_huge_single_row, "cur.csv"),
    "ragged csv": _against_good(_ragged_csv, "cur.csv"),
    "csv with nul bytes": _against_good(_nul_bytes_csv, "cur.csv"),
    "utf-16 csv": _against_good(_utf16_csv, "cur.csv"),
    "latin-1 csv": _against_good(_latin1_csv, "cur.csv"),
    "csv with bom": _against_good(_bom_csv, "cur.csv"),
    "duplicate header": _against_good(_duplicate_header, "cur.csv"),
    "blank header names": _against_good(_blank_header, "cur.csv"),
    "all inf column": _against_good(_all_inf_csv, "cur.csv"),
    "plain text named gz": _against_good(_fake_gzip, "cur.csv.gz"),
    "real gzip csv": _against_good(_real_gzip, "cur.csv.gz"),
    "json array file": _against_good(_json_array_file, "cur.json"),
    "quotes, newline and escape in names": _against_good(_odd_column_names, "cur.csv"),
    "300 columns vs 2": _against_good(_wide_csv, "cur.csv"),
    "directory without data files": _against_good(_directory_without_data, "curdir"),
    "directory mixing formats": _against_good(_mixed_directory, "curdir"),
    "directory with one broken file": _against_good(_directory_one_bad_file, "curdir"),
    "no common columns": _no_common_columns,
    "same file twice": _same_file,
    "saved profile as current": _profile_as_current,
    "missing path": _missing,
    "glob matching nothing": _glob_no_match,
}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


def assert_clean_exit(code: int, out: str, err: str) -> None:
    """A report (0/1, JSON on stdout) or exit 2 with one `error:` line and at most a hint."""
    assert "Traceback" not in out + err
    assert code in (0, 1, 2), (code, err)
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and lines[0].startswith("error: "), err
        assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines), (
            err
        )
        assert len(lines[0]) < 600, lines[0]
    else:
        json.loads(out)


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_gives_a_report_or_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur = CASES[case](tmp_path)
    capsys.readouterr()
    code, out, err = _run(["drift", str(ref), str(cur), "--format", "json"], capsys)
    assert_clean_exit(code, out, err)


# Cases whose outcome is known: what a user must see.
EXPECTED_ERRORS = {
    "empty current csv": "empty",
    "header-only csv": "no rows",
    "missing path": "does not exist",
    "glob matching nothing": "no files match",
    "directory without data files": "no Parquet, CSV or JSONL",
    "directory mixing formats": "mixes file formats",
    "truncated parquet": "cannot read",
    "jsonl broken line in the middle": "cannot read",
    "saved profile as current": "saved drift profile",
    "python file as current": "not a Parquet, CSV or JSONL file",
}


@pytest.mark.parametrize("case", sorted(EXPECTED_ERRORS))
def test_known_bad_inputs_name_the_problem(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur = CASES[case](tmp_path)
    capsys.readouterr()
    code, _, err = _run(["drift", str(ref), str(cur), "--format", "json"], capsys)
    assert code == 2, err
    assert EXPECTED_ERRORS[case] in err.splitlines()[0]


def test_same_file_twice_is_no_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur = _same_file(tmp_path)
    code, out, _ = _run(["drift", str(ref), str(cur), "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["findings"] == []


def test_no_common_columns_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur = _no_common_columns(tmp_path)
    code, out, _ = _run(["drift", str(ref), str(cur), "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1
    assert {f["code"] for f in data["findings"]} == {"DRIFT006"}
    assert any("no column could be compared" in n["message"] for n in data["notifications"])


def test_a_column_read_as_dates_is_a_type_change_not_a_silent_exclusion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB reads a CSV column of `inf` as DATE (infinity); the reference compared it as
    numbers, so leaving it out as "a timestamp" would hide the change."""
    ref, cur = CASES["all inf column"](tmp_path)
    code, out, _ = _run(["drift", str(ref), str(cur), "--format", "json"], capsys)
    found = {(f["code"], f["location"]["column_name"]) for f in json.loads(out)["findings"]}
    assert code == 1 and ("DRIFT006", "x") in found
