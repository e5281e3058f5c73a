"""Bad and awkward inputs: a clear error or a notification, never a silent 'no drift'."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from infermedic.drift import ColumnOptions, drift
from infermedic.errors import DatasetError
from infermedic.model import NotificationLevel


@pytest.fixture
def good(write_parquet: Callable[[str, dict[str, object]], Path]) -> Path:
    rng = np.random.default_rng(31)
    return write_parquet(
        "good.parquet", {"x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500)}
    )


def test_nonexistent_path(good: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        drift(good, tmp_path / "nope.parquet")


def test_a_directory_with_only_log_files_in_progress_says_so(good: Path, tmp_path: Path) -> None:
    """A real PredictionLogger, rows logged, not yet rotated: its file is hidden until it is
    published, and drift says that rather than 'no data files'."""
    from prometheus_client import CollectorRegistry

    from infermedic.instrument import PredictionLogger

    logs = tmp_path / "logs"
    logger = PredictionLogger(logs, registry=CollectorRegistry(), flush_interval_s=0.05)
    try:
        for i in range(40):
            logger.log({"x": float(i % 7), "c": "ab"[i % 2]}, 0.5)
        deadline = time.monotonic() + 10
        while not list(logs.glob(".*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(DatasetError, match="still being written") as info:
            drift(good, logs)
        assert info.value.hint is not None and "flush()" in info.value.hint
        logger.flush()
        assert list(logs.glob("*.jsonl"))  # published: drift reads it now
        from infermedic.drift.sources import resolve_source

        assert resolve_source(logs)  # a data source now
    finally:
        logger.close()


def test_empty_file(good: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DatasetError, match="empty"):
        drift(good, empty)


def test_header_only_csv_has_no_rows(good: Path, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("x,c\n")
    with pytest.raises(DatasetError, match="no rows"):
        drift(good, path)


def test_single_row(good: Path, write_parquet: Callable[[str, dict[str, object]], Path]) -> None:
    one = write_parquet("one.parquet", {"x": [1.0], "c": ["a"]})
    with pytest.raises(DatasetError, match="single row"):
        drift(good, one)


def test_corrupt_parquet(good: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(DatasetError, match="cannot read") as info:
        drift(good, bad)
    assert info.value.hint


def test_binary_junk_named_csv(good: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(DatasetError):
        drift(good, junk)


def test_mixed_formats_in_a_directory(good: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.parquet").write_bytes(good.read_bytes())
    (folder / "b.csv").write_text("x,c\n1,a\n2,b\n")
    with pytest.raises(DatasetError, match="mixes file formats"):
        drift(good, folder)


def test_all_null_column_is_a_missing_rate_finding_and_a_notification(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    rng = np.random.default_rng(32)
    ref = write_parquet("ref.parquet", {"x": rng.normal(size=1000), "y": rng.normal(size=1000)})
    cur = write_parquet(
        "cur.parquet", {"x": pa.array([None] * 1000, type=pa.float64()), "y": rng.normal(size=1000)}
    )
    report = drift(ref, cur)
    assert [(f.code, f.location.column_name) for f in report.findings] == [("DRIFT005", "x")]
    assert any("all missing" in n.message and "'x'" in n.message for n in report.notifications)


def test_mixed_type_column_in_csv_is_named(tmp_path: Path) -> None:
    ref = tmp_path / "ref.csv"
    cur = tmp_path / "cur.csv"
    rng = np.random.default_rng(33)
    ref.write_text("x,v\n" + "".join(f"{rng.normal():.4f},{i % 7}\n" for i in range(300)))
    cur.write_text(
        "x,v\n"
        + "".join(f"{rng.normal():.4f},{'oops' if i % 50 == 0 else i % 7}\n" for i in range(300))
    )
    report = drift(ref, cur)
    assert any("mixes types" in n.message and "'v'" in n.message for n in report.notifications)
    schema = [f for f in report.findings if f.code == "DRIFT006"]
    assert [f.location.column_name for f in schema] == ["v"]
    # the column is still read as numbers: the finding measures the text that broke in
    assert "not numbers" in schema[0].message and "'oops' (2.0%)" in schema[0].message
    assert schema[0].evidence[0].values["non_numeric_count"] == 6


def test_schema_changes_are_findings(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    rng = np.random.default_rng(34)
    ref = write_parquet(
        "ref.parquet", {"kept": rng.normal(size=400), "dropped": rng.normal(size=400)}
    )
    cur = write_parquet(
        "cur.parquet", {"kept": rng.normal(size=400), "added": rng.normal(size=400)}
    )
    report = drift(ref, cur)
    messages = sorted(f.message for f in report.findings if f.code == "DRIFT006")
    assert len(messages) == 2
    assert "'added'" in messages[0] and "new" in messages[0]
    assert "'dropped'" in messages[1] and "not in the current" in messages[1]


def test_id_and_time_columns_are_left_out_with_a_note(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    rng = np.random.default_rng(35)
    n = 3000

    def table() -> dict[str, object]:
        return {
            "request_id": [f"r{i}-{rng.integers(1 << 40)}" for i in range(n)],
            "session": [f"s{rng.integers(1 << 40)}" for _ in range(n)],
            "x": rng.normal(size=n),
        }

    ref = write_parquet("ref.parquet", table())
    cur = write_parquet("cur.parquet", table())
    report = drift(ref, cur)
    assert report.findings == ()
    notes = " ".join(n.message for n in report.notifications if n.level is NotificationLevel.NOTE)
    assert "'request_id'" in notes and "'session'" in notes and "identifier" in notes


def test_unknown_option_column_is_an_error(good: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        drift(good, good, column_options=ColumnOptions(predictions=("score",)))


def test_small_samples_warn_about_power(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    ref = write_parquet("ref.parquet", {"x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    cur = write_parquet("cur.parquet", {"x": [1.5, 2.5, 3.5]})
    report = drift(ref, cur)
    assert any("little power" in n.message for n in report.notifications)
