"""Where the prediction logger's writer thread puts rows: the sink interface and the rotating
JSONL/Parquet files, each published complete by fsync and rename (see `predlog`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from infermedic.errors import ConfigError, InputError
from infermedic.instrument.predrows import Row

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

LogFormat = Literal["jsonl", "parquet"]


class PredictionSink(ABC):
    """Where the writer thread puts batches of rows. Called from that one thread only."""

    @abstractmethod
    def write(self, rows: Sequence[Row]) -> None:
        """Store one batch of rows (in order)."""

    def tick(self) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Called about every `flush_interval_s`, idle or not (time-based rotation)."""

    def flush(self) -> None:  # noqa: B027 - optional hook, deliberately empty
        """Make every row written so far visible to readers."""

    def close(self) -> None:
        """Flush and release resources; the sink is not used afterwards."""
        self.flush()

    def take_counts(self) -> tuple[int, int] | None:
        """Rows `(published, lost)` since the last call, for a sink that publishes later.

        None (the default) means a `write()` that returns has stored its rows and one that
        raises has lost them. A sink that holds rows before publishing them (files completed
        by rename) returns how many it published and how many it lost on its own, and then
        counts the rows of a failed `write()` itself.
        """
        return None

    @property
    def pending_rows(self) -> int:
        """Rows accepted by `write()` but not yet published (lost if the process ends now)."""
        return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


# One encoder, reused: json.dumps with non-default options builds a new encoder per call.
_STRICT_JSON = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
)


def _json_line(row: Row) -> str:
    row = {**row, "time": row["time"].isoformat()} if "time" in row and row["time"] else row
    try:
        return _STRICT_JSON.encode(row)
    except ValueError:
        # NaN or infinity somewhere: JSON has none, write null (drift reads it as missing).
        return _STRICT_JSON.encode({key: _json_safe(value) for key, value in row.items()})


class _JsonlFile:
    suffix = ".jsonl"

    def __init__(self, path: Path) -> None:
        self._handle = path.open("w", encoding="utf-8")

    def append(self, rows: Sequence[Row]) -> int:
        self._handle.write("".join([_json_line(row) + "\n" for row in rows]))
        return len(rows)

    def accepts(self, rows: Sequence[Row]) -> bool:
        return True

    def close(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()

    def abort(self) -> None:
        # Closing flushes the buffer, which fails again on a full disk; the handle is closed
        # all the same, and the file is deleted next.
        with contextlib.suppress(OSError, ValueError):
            self._handle.close()


class _ParquetFile:
    suffix = ".parquet"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def _table(self, rows: Sequence[Row]) -> pa.Table:
        import pyarrow as pa

        return pa.Table.from_pylist(list(rows), schema=self._schema)

    def accepts(self, rows: Sequence[Row]) -> bool:
        """Whether `rows` fit this file's schema (no new column, convertible types)."""
        if self._schema is None:
            return True
        import pyarrow as pa

        names = set(self._schema.names)
        if any(not names.issuperset(row) for row in rows):
            return False
        try:
            self._table(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return False
        return True

    def append(self, rows: Sequence[Row]) -> int:
        import pyarrow.parquet as pq

        table = self._table(rows)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(str(self._path), table.schema)
        self._writer.write_table(table)
        return len(rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        # ParquetWriter has no fsync; reopen to push the bytes to disk before the rename.
        with self._path.open("rb+") as handle:
            os.fsync(handle.fileno())

    def abort(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):  # pyarrow raises OSError or ArrowException
                writer.close()


class RotatingFileSink(PredictionSink):
    """Batched JSONL or Parquet files in one directory, completed atomically (tmp + rename)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        format: LogFormat = "jsonl",
        rotate_rows: int = 100_000,
        rotate_s: float = 30.0,
        prefix: str = "predictions",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if format not in ("jsonl", "parquet"):
            raise ConfigError(f"unknown prediction log format {format!r}", hint="jsonl or parquet")
        if rotate_rows < 1 or rotate_s <= 0:
            raise ConfigError("rotate_rows must be >= 1 and rotate_s > 0")
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"cannot create prediction log directory {self.directory}: {exc}",
                hint="pass a writable directory",
            ) from exc
        self.format = format
        self.rotate_rows = rotate_rows
        self.rotate_s = rotate_s
        self.prefix = prefix
        self._clock = clock
        self._file: _JsonlFile | _ParquetFile | None = None
        self._tmp_path: Path | None = None
        self._final_path: Path | None = None
        self._opened_at = 0.0
        self._rows_in_file = 0
        self._sequence = 0
        self._published = 0
        self._lost = 0
        self.completed: list[Path] = []

    def _open(self) -> _JsonlFile | _ParquetFile:
        now = self._clock()
        stamp = dt.datetime.fromtimestamp(now, tz=dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self._sequence += 1
        suffix = ".jsonl" if self.format == "jsonl" else ".parquet"
        name = f"{self.prefix}-{stamp}-{os.getpid()}-{self._sequence:04d}{suffix}"
        self._final_path = self.directory / name
        self._tmp_path = self.directory / f".{name}.tmp"
        self._opened_at = now
        self._rows_in_file = 0
        self._file = (
            _JsonlFile(self._tmp_path) if self.format == "jsonl" else _ParquetFile(self._tmp_path)
        )
        return self._file

    def _complete(self) -> None:
        """Publish the current file: fsync, then rename; on any error delete it, rows lost."""
        file = self._file
        if file is None or self._tmp_path is None or self._final_path is None:
            return
        try:
            file.close()
            if self._rows_in_file == 0:
                self._tmp_path.unlink(missing_ok=True)
            else:
                os.replace(self._tmp_path, self._final_path)
        except BaseException:
            self._abort()
            raise
        self._file = None
        if self._rows_in_file:
            self._fsync_directory()
            self.completed.append(self._final_path)
            self._published += self._rows_in_file
            self._rows_in_file = 0

    def _abort(self) -> None:
        """Drop the file in progress (a write or fsync failed): its rows are lost, never
        half-published."""
        file, self._file = self._file, None
        if file is None:
            return
        file.abort()
        if self._tmp_path is not None:
            with contextlib.suppress(OSError):
                self._tmp_path.unlink(missing_ok=True)
        self._lost += self._rows_in_file
        self._rows_in_file = 0

    def _fsync_directory(self) -> None:
        # The rename itself is durable only once the directory entry is on disk. Best effort:
        # the file is complete either way, and some file systems refuse a directory fsync.
        with contextlib.suppress(OSError):
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def write(self, rows: Sequence[Row]) -> None:
        start = 0
        try:
            while start < len(rows):
                file = self._file if self._file is not None else self._open()
                room = self.rotate_rows - self._rows_in_file
                chunk = rows[start : start + room]
                if self._rows_in_file and not file.accepts(chunk):
                    self._complete()
                    continue
                self._rows_in_file += file.append(chunk)
                start += len(chunk)
                if self._rows_in_file >= self.rotate_rows:
                    self._complete()
        except BaseException:
            # A full disk, a failed open or a row pyarrow cannot take: the file in progress
            # may hold a torn row, so it is dropped with every row in it, and the rest of
            # this batch is lost too. Nothing half-written is ever renamed into place.
            self._abort()
            self._lost += len(rows) - start
            raise
        self.tick()

    def take_counts(self) -> tuple[int, int]:
        counts = (self._published, self._lost)
        self._published = self._lost = 0
        return counts

    @property
    def pending_rows(self) -> int:
        return self._rows_in_file

    def tick(self) -> None:
        if self._file is not None and self._clock() - self._opened_at >= self.rotate_s:
            self._complete()

    def flush(self) -> None:
        self._complete()
