"""The prediction logger: row format through DuckDB, rotation, atomic files, never blocking."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from infermedic.errors import ConfigError
from infermedic.instrument import PredictionLogger, PredictionSink, RotatingFileSink
from infermedic.instrument.predlog import LogFormat
from tests.instrument.helpers import sample_value

READERS = {"jsonl": "read_json_auto", "parquet": "read_parquet"}


def _read(directory: Path, format: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every completed file in `directory`, through DuckDB as `infermedic drift` reads them."""
    relation = duckdb.sql(
        f"SELECT * REPLACE (epoch(time) AS time) "
        f"FROM {READERS[format]}('{directory}/*.{format}', union_by_name = true) "
        "ORDER BY time"
    )
    return relation.columns, relation.fetchall()


def _dropped(registry: CollectorRegistry, reason: str) -> float | None:
    text = generate_latest(registry).decode()
    return sample_value(text, "inference_prediction_log_dropped_total", reason=reason)


@pytest.mark.parametrize("format", ["jsonl", "parquet"])
def test_rows_have_the_documented_columns_and_values(
    tmp_path: Path, registry: CollectorRegistry, format: LogFormat
) -> None:
    with PredictionLogger(
        tmp_path,
        format=format,
        model_version="7",
        registry=registry,
    ) as logger:
        assert logger.log(
            {"age": np.int64(41), "plan": "pro", "geo": {"country": "DE"}},
            np.int64(1),
            outputs={"score": np.float64(0.75), "proba": np.array([0.25, 0.75])},
            request_id="req-1",
        )
        assert logger.log(
            {"age": 20, "plan": None, "geo": {"country": "FR"}},
            0,
            outputs={"score": 0.125, "proba": [0.875, 0.125]},
            model_version="8",
        )
    columns, rows = _read(tmp_path, format)
    assert columns == [
        "time",
        "request_id",
        "model_version",
        "age",
        "plan",
        "geo.country",
        "prediction",
        "score",
        "proba",
    ]
    assert [row[1:] for row in rows] == [
        ("req-1", "7", 41, "pro", "DE", 1, 0.75, [0.25, 0.75]),
        (None, "8", 20, None, "FR", 0, 0.125, [0.875, 0.125]),
    ]
    assert rows[0][0] <= rows[1][0]
    assert logger.written == 2
    assert logger.dropped == 0


def test_colliding_names_are_prefixed_and_nan_is_missing(tmp_path: Path) -> None:
    with PredictionLogger(tmp_path, registry=CollectorRegistry()) as logger:
        logger.log({"time": 3, "prediction": 1, "x": float("nan")}, 0, outputs={"x": 2})
    columns, rows = _read(tmp_path, "jsonl")
    assert columns == [
        "time",
        "request_id",
        "model_version",
        "input_time",
        "prediction",
        "x",
        "output_prediction",
        "output_x",
    ]
    assert rows[0][3:] == (3, 1, None, 0, 2)


def test_features_are_copied_when_logged(tmp_path: Path, registry: CollectorRegistry) -> None:
    features = {"age": 30}
    with PredictionLogger(tmp_path, registry=registry) as logger:
        logger.log(features, 1)
        features["age"] = 99
    assert _read(tmp_path, "jsonl")[1][0][3] == 30


@pytest.mark.parametrize("format", ["jsonl", "parquet"])
def test_rotation_by_rows_writes_complete_files_in_name_order(
    tmp_path: Path, registry: CollectorRegistry, format: LogFormat
) -> None:
    logger = PredictionLogger(
        tmp_path,
        format=format,
        rotate_rows=3,
        registry=registry,
    )
    for i in range(7):
        logger.log({"i": i}, i % 2)
    assert logger.flush()
    files = sorted(tmp_path.glob(f"*.{format}"))
    per_file = [
        duckdb.sql(f"SELECT count(*), min(i) FROM {READERS[format]}('{f}')").fetchall()[0]
        for f in files
    ]
    assert per_file == [(3, 0), (3, 3), (1, 6)]
    assert all(f.name.startswith("predictions-") for f in files)
    assert not list(tmp_path.glob(".*.tmp"))
    assert logger.close()


def test_a_file_in_progress_is_hidden_until_it_is_complete(tmp_path: Path) -> None:
    now = [1_000.0]
    sink = RotatingFileSink(tmp_path, rotate_rows=100, rotate_s=60.0, clock=lambda: now[0])
    sink.write([{"time": None, "i": 1}])
    # Written, but only under the hidden temporary name: globbing readers see nothing.
    assert list(tmp_path.glob("*.jsonl")) == []
    assert len(list(tmp_path.glob(".*.jsonl.tmp"))) == 1
    now[0] += 59.0
    sink.tick()
    assert list(tmp_path.glob("*.jsonl")) == []
    now[0] += 1.0
    sink.tick()  # 60 s old: rotated by time
    completed = list(tmp_path.glob("*.jsonl"))
    assert len(completed) == 1
    assert "-19700101T001640.000000Z-" in completed[0].name
    assert list(tmp_path.glob(".*.tmp")) == []
    sink.write([{"time": None, "i": 2}])
    sink.close()
    assert len(list(tmp_path.glob("*.jsonl"))) == 2


def test_an_idle_empty_logger_leaves_no_files(tmp_path: Path, registry: CollectorRegistry) -> None:
    logger = PredictionLogger(tmp_path, registry=registry)
    assert logger.flush()
    assert logger.close()
    assert list(tmp_path.iterdir()) == []


def test_parquet_schema_change_starts_a_new_file(tmp_path: Path) -> None:
    sink = RotatingFileSink(tmp_path, format="parquet")
    sink.write([{"time": None, "age": 30}])
    sink.write([{"time": None, "age": 31}])  # same schema: same file
    sink.write([{"time": None, "age": 32, "plan": "pro"}])  # a new column
    sink.write([{"time": None, "age": "unknown", "plan": "pro"}])  # a type that does not fit
    sink.close()
    assert len(sink.completed) == 3
    relation = duckdb.sql(
        f"SELECT age, plan FROM read_parquet('{tmp_path}/*.parquet', union_by_name = true)"
    )
    assert sorted(relation.fetchall(), key=str) == sorted(
        [("30", None), ("31", None), ("32", "pro"), ("unknown", "pro")], key=str
    )


class _HangingSink(PredictionSink):
    """A sink whose write blocks until the test releases it (a stuck network filesystem)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.rows: list[Any] = []

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self.entered.set()
        self.release.wait()
        self.rows.extend(rows)


class _RaisingSink(PredictionSink):
    def __init__(self) -> None:
        self.calls = 0

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self.calls += 1
        raise OSError("disk full")


def _returns_without_blocking(call: Callable[[], bool]) -> bool:
    """Run `call` in a thread and check it finished; a blocking call would still be running."""
    result: list[bool] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    # Generous: a non-blocking call takes microseconds; a blocked one never returns at all,
    # because the sink it would wait for is held by an Event the test has not set.
    worker.join(timeout=30)
    assert not worker.is_alive(), "log() blocked on the hanging sink"
    return result[0]


def test_a_hanging_sink_never_blocks_log_and_full_queue_rows_are_counted(
    registry: CollectorRegistry,
) -> None:
    sink = _HangingSink()
    logger = PredictionLogger(sink=sink, max_queue=2, batch_rows=1, registry=registry)
    try:
        assert logger.log({"i": 0}, 0)
        assert sink.entered.wait(timeout=30)  # the writer is now stuck inside write()
        assert _returns_without_blocking(lambda: logger.log({"i": 1}, 0))
        assert _returns_without_blocking(lambda: logger.log({"i": 2}, 0))
        # The queue holds two rows and is full: later rows are dropped, immediately.
        results = [_returns_without_blocking(lambda: logger.log({"i": 9}, 0)) for _ in range(5)]
        assert results == [False] * 5
        assert logger.dropped == 5
        assert _dropped(registry, "queue_full") == 5
        assert logger.flush(timeout=0.05) is False  # a stuck sink cannot be flushed
    finally:
        sink.release.set()
    assert logger.close(timeout=30)
    assert [row["i"] for row in sink.rows] == [0, 1, 2]


def test_a_raising_sink_drops_its_batch_counts_it_and_keeps_logging(
    registry: CollectorRegistry,
) -> None:
    sink = _RaisingSink()
    logger = PredictionLogger(sink=sink, registry=registry)
    assert logger.log({"i": 1}, 0)
    assert logger.log({"i": 2}, 1)
    assert logger.flush()
    assert isinstance(logger.last_error, OSError)
    assert _dropped(registry, "sink_error") == 2
    assert logger.log({"i": 3}, 0)  # the logger is still alive after the failure
    assert logger.close()
    assert sink.calls == 2
    assert _dropped(registry, "sink_error") == 3
    assert logger.written == 0


def test_close_flushes_what_is_queued(tmp_path: Path, registry: CollectorRegistry) -> None:
    # Neither batch size nor interval would write these rows: only close() can.
    logger = PredictionLogger(tmp_path, batch_rows=10_000, flush_interval_s=3600, registry=registry)
    for i in range(250):
        logger.log({"i": i}, i % 3)
    assert list(tmp_path.glob("*.jsonl")) == []
    assert logger.close()
    assert len(_read(tmp_path, "jsonl")[1]) == 250
    assert not logger.log({"i": 1}, 0)
    assert _dropped(registry, "closed") == 1
    assert logger.close()  # idempotent


def test_rows_that_cannot_be_columns_are_dropped_as_invalid(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    with PredictionLogger(tmp_path, registry=registry) as logger:
        logger.log([1, 2, 3], 0)  # a list has no column names
        logger.log({"ok": 1}, 0)
    assert len(_read(tmp_path, "jsonl")[1]) == 1
    assert _dropped(registry, "invalid_row") == 1
    assert isinstance(logger.last_error, TypeError)


def test_sampling_keeps_the_sampled_share(registry: CollectorRegistry) -> None:
    sink = _HangingSink()
    sink.release.set()
    logger = PredictionLogger(sink=sink, sample_rate=0.25, registry=registry)
    random.seed(7)
    expected = sum(random.random() < 0.25 for _ in range(400))
    random.seed(7)
    logged = sum(logger.log({"i": i}, 0) for i in range(400))
    assert logged == expected
    assert logger.close()
    assert len(sink.rows) == expected
    assert logger.dropped == 0


def test_invalid_configuration_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        PredictionLogger()
    with pytest.raises(ConfigError):
        PredictionLogger(tmp_path, sink=_RaisingSink())
    with pytest.raises(ConfigError):
        PredictionLogger(tmp_path, sample_rate=1.5)
    with pytest.raises(ConfigError):
        PredictionLogger(tmp_path, format="csv")  # type: ignore[arg-type]
