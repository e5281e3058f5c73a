"""The prediction logger under faults: a full disk, a hung sink, a close that times out.

The invariant checked throughout: every row `log()` accepted is either in a published file
(one that parses completely) or counted as dropped, never half-written under a final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from infermedic.instrument import PredictionLogger, PredictionSink, RotatingFileSink
from tests.instrument.helpers import sample_value

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ["jsonl", "parquet"]


def _metric(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return sample_value(generate_latest(registry).decode(), name, **labels)


def _published_rows(directory: Path, format: str) -> int:
    """Rows in the files a reader sees; each one must parse to its end (none torn)."""
    total = 0
    for path in sorted(directory.glob(f"*.{format}")):
        if format == "jsonl":
            text = path.read_text(encoding="utf-8")
            assert text.endswith("\n"), f"{path.name} ends mid-row"
            lines = text.splitlines()
            for line in lines:
                json.loads(line)  # raises on a torn row
            total += len(lines)
        else:
            total += pq.read_table(path).num_rows  # raises on a truncated file
    return total


def _row(i: int) -> dict[str, Any]:
    # Rows of different sizes, so some files fill the space or the size limit and some fit.
    return {"i": i, "note": "x" * (20 + (i * 37) % 400), "score": i / 7}


@pytest.fixture
def tiny_tmpfs() -> Iterator[Path]:
    """A real 64 KiB file system, which fills up (ENOSPC) after a few files.

    Mounting needs root; without it this test is skipped, and the file-size-limit test below
    (no root needed) checks the same invariant with the kernel's EFBIG write error. The mount
    point is outside pytest's temporary tree, so a mount left behind can never break the
    cleanup of that tree; it is detached lazily if a handle still holds it.
    """
    mountpoint = Path(tempfile.mkdtemp(prefix="infermedic-full-disk-"))
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        mountpoint.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        unmounted = subprocess.run(["umount", str(mountpoint)], check=False, timeout=30)
        if unmounted.returncode != 0:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False, timeout=30)
        with contextlib.suppress(OSError):
            mountpoint.rmdir()


@pytest.mark.parametrize("format", FORMATS)
def test_a_full_disk_publishes_only_complete_files_and_counts_every_lost_row(
    tiny_tmpfs: Path, format: str, registry: CollectorRegistry
) -> None:
    logger = PredictionLogger(
        tiny_tmpfs,
        format=format,  # type: ignore[arg-type]
        batch_rows=20,
        rotate_rows=60,
        flush_interval_s=0.05,
        registry=registry,
    )
    logged = 2_000  # about 500 KB of rows for a 64 KiB disk
    for i in range(logged):
        assert logger.log(_row(i), i % 3)
    assert logger.close(timeout=60)
    on_disk = _published_rows(tiny_tmpfs, format)
    assert 0 < on_disk < logged  # some files fit before the disk filled, most did not
    assert logger.written == on_disk
    assert logger.written + logger.dropped == logged
    assert _metric(registry, "inference_prediction_log_dropped_total", reason="sink_error") == (
        logged - on_disk
    )
    assert _metric(registry, "inference_prediction_log_rows_written_total") == on_disk
    assert isinstance(logger.last_error, OSError)
    # No temporary file is left behind to take the space.
    assert [p.name for p in tiny_tmpfs.iterdir() if p.name.startswith(".")] == []


_SIZE_LIMITED_WRITER = textwrap.dedent(
    """
    import json, random, resource, signal, sys
    from infermedic.instrument import PredictionLogger
    directory, format, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Files of 50 rows, alternately small (about 8 KB) and large (about 27 KB); the notes are
    # random hex so Parquet cannot compress them away.
    rows = [
        {"i": i, "note": random.Random(i).randbytes(10 if i // 50 % 2 == 0 else 200).hex()}
        for i in range(600)
    ]
    logger = PredictionLogger(directory, format=format, batch_rows=25, rotate_rows=50,
                              flush_interval_s=0.05)
    # From here on, a write past `limit` bytes in any file fails with EFBIG (the signal the
    # kernel sends first is ignored, so the write returns the error, as on a full disk).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    for i, row in enumerate(rows):
        assert logger.log(row, i % 3)
    closed = logger.close(timeout=60)
    print(json.dumps({"closed": closed, "written": logger.written, "dropped": logger.dropped,
                      "error": repr(logger.last_error)}))
    """
)


@pytest.mark.parametrize("format", FORMATS)
def test_write_errors_under_a_file_size_limit_never_publish_a_torn_file(
    tmp_path: Path, format: str
) -> None:
    """The kernel refuses writes past RLIMIT_FSIZE (EFBIG): a real write error without root.

    Run in a child process, since the limit applies to the whole process.
    """
    directory = tmp_path / "log"
    limit = 16_000  # the small files fit, the large ones fail part-way
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", _SIZE_LIMITED_WRITER, str(directory), format, str(limit)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    on_disk = _published_rows(directory, format)
    assert report["closed"] is True
    assert on_disk == 300, report  # the six small files, whole
    assert report["written"] == on_disk
    assert report["written"] + report["dropped"] == 600
    assert "File too large" in report["error"] or "27" in report["error"], report
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")] == []
    # drift reads the directory the failed writes left behind.
    drift = subprocess.run(
        [sys.executable, "-m", "infermedic", "drift", str(directory), str(directory)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert "Traceback" not in drift.stderr


def _wait_for(condition: Callable[[], bool]) -> None:
    """Wait for the writer thread to reach a state (no timing assertion: only a hang fails)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the writer thread did not get there"
        time.sleep(0.01)


class _FailingFileSink(RotatingFileSink):
    """The file sink with a disk that fails the Nth write call (the write layer, in-process)."""

    def __init__(self, directory: Path, *, fail_on: set[int], **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        self.fail_on = fail_on
        self.calls = 0

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            # Append one torn row to the file in progress first, as a full disk leaves it,
            # then fail the way the kernel does.
            original = self._file.append if self._file is not None else None

            def torn(chunk: Sequence[dict[str, Any]]) -> int:
                if self._tmp_path is not None and self._tmp_path.exists():
                    with self._tmp_path.open("a") as handle:
                        handle.write('{"i": 1, "no')
                raise OSError(28, "No space left on device")

            if self._file is not None:
                self._file.append = torn  # type: ignore[method-assign]
            try:
                super().write(rows)
            finally:
                if self._file is not None and original is not None:
                    self._file.append = original  # type: ignore[method-assign]
            return
        super().write(rows)


def test_a_failed_write_drops_the_whole_unpublished_file_with_its_earlier_rows(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    """Rows written to the file in progress before the failure were not published: lost too.

    The failure is injected at the file-append layer (a real full disk is the tmpfs test).
    """
    sink = _FailingFileSink(tmp_path, fail_on={4}, rotate_rows=1_000)
    logger = PredictionLogger(sink=sink, batch_rows=10, flush_interval_s=3600, registry=registry)
    for batch in range(5):
        for i in range(10):
            assert logger.log(_row(batch * 10 + i), 0)
        _wait_for(lambda calls=batch + 1: sink.calls == calls)  # one write call per batch
        if batch == 1:
            assert logger.flush(timeout=30)  # publishes batches 0-1
    assert logger.close(timeout=30)
    on_disk = _published_rows(tmp_path, "jsonl")
    # Batch 2 went to a new file, unpublished; batch 3 failed in it, so both are lost.
    # Batch 4 went to a third file, published at close.
    assert on_disk == 30
    assert logger.written == 30
    assert logger.dropped == 20
    assert _metric(registry, "inference_prediction_log_dropped_total", reason="sink_error") == 20
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


class _HangingSink(PredictionSink):
    """A sink whose write blocks on an Event until the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.rows: list[Any] = []

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self.entered.set()
        self.release.wait()
        self.rows.extend(rows)


def test_the_queue_depth_gauge_follows_the_queue_behind_a_hung_sink(
    registry: CollectorRegistry,
) -> None:
    sink = _HangingSink()
    logger = PredictionLogger(sink=sink, batch_rows=1, flush_interval_s=0.05, registry=registry)
    try:
        assert logger.log({"i": 0}, 0)
        assert sink.entered.wait(timeout=30)  # the writer is stuck in write()
        # Past the flush interval the sink call is overdue (a sleep lasts at least this long).
        time.sleep(0.2)
        for i in range(1, 8):
            assert logger.log({"i": i}, 0)
        assert logger.queued == 7
        assert _metric(registry, "inference_prediction_log_queue_depth") == 7
    finally:
        sink.release.set()
    assert logger.close(timeout=30)
    assert _metric(registry, "inference_prediction_log_queue_depth") == 0
    assert [row["i"] for row in sink.rows] == list(range(8))
    assert logger.written == 8


def test_rows_left_when_close_times_out_are_counted_as_lost(
    registry: CollectorRegistry,
) -> None:
    sink = _HangingSink()
    logger = PredictionLogger(sink=sink, batch_rows=1, registry=registry)
    try:
        assert logger.log({"i": 0}, 0)
        assert sink.entered.wait(timeout=30)
        for i in range(1, 5):
            assert logger.log({"i": i}, 0)
        assert logger.close(timeout=0.1) is False  # the sink is still stuck
        # One row inside the stuck write, four still queued: all five counted.
        assert logger.dropped == 5
        assert _metric(registry, "inference_prediction_log_dropped_total", reason="closed") == 5
        assert _metric(registry, "inference_prediction_log_queue_depth") == 0
        assert logger.queued == 0
    finally:
        sink.release.set()
    # The writer finishes later; it counts nothing more, so no row is counted twice.
    assert logger.close(timeout=30)
    assert logger.written == 0
    assert logger.dropped == 5


class _HangingFileSink(RotatingFileSink):
    """The file sink, hanging in its second write (the first left rows unpublished)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self.calls += 1
        if self.calls == 2:
            self.entered.set()
            self.release.wait()
        super().write(rows)


def test_unpublished_file_rows_are_counted_when_close_times_out(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    sink = _HangingFileSink(tmp_path)
    logger = PredictionLogger(sink=sink, batch_rows=3, flush_interval_s=3600, registry=registry)
    try:
        for i in range(3):
            assert logger.log({"i": i}, 0)  # the third fills a batch: written, unpublished
        for i in range(3, 6):
            assert logger.log({"i": i}, 0)
        assert sink.entered.wait(timeout=30)
        assert logger.log({"i": 6}, 0)
        assert logger.close(timeout=0.1) is False
        # 3 in the hidden file, 3 in the stuck write, 1 queued.
        assert logger.dropped == 7
        assert list(tmp_path.glob("*.jsonl")) == []
    finally:
        sink.release.set()
    assert logger.close(timeout=30)
