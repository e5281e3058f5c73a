"""A prediction log that never waits on the disk: a bounded queue and a writer thread."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

_STOP = object()


class PredictionLog:
    """Appends one JSON line per prediction to `directory/predictions-<pid>.jsonl`.

    `log()` only puts the record on a bounded queue; a full queue drops the record and counts
    it, because a prediction must never wait for (or fail because of) its own log line.
    """

    def __init__(
        self, directory: Path, *, max_queued: int = 10_000, flush_interval_s: float = 0.5
    ) -> None:
        self.path = directory / f"predictions-{os.getpid()}.jsonl"
        self.dropped = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queued)
        self._flush_interval_s = flush_interval_s
        self._thread = threading.Thread(target=self._write_forever, daemon=True)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def log(self, record: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Write what is queued and stop the writer (called at shutdown)."""
        self._queue.put(_STOP)
        self._thread.join(timeout=5.0)

    def _write_forever(self) -> None:
        with self.path.open("a", encoding="utf-8") as sink:
            while True:
                batch = [self._queue.get()]
                deadline = time.monotonic() + self._flush_interval_s
                while batch[-1] is not _STOP and time.monotonic() < deadline:
                    try:
                        batch.append(self._queue.get(timeout=deadline - time.monotonic()))
                    except queue.Empty:
                        break
                sink.writelines(json.dumps(r) + "\n" for r in batch if r is not _STOP)
                sink.flush()
                if batch[-1] is _STOP:
                    return


def prediction_record(
    features: dict[str, Any], probability: float, *, model_version: str, request_id: str
) -> dict[str, Any]:
    """One log row: when (ISO 8601, UTC), which request, which model, the inputs, the output.

    The same columns as `infermedic.instrument.PredictionLogger` writes, so `infermedic drift`
    reads either.
    """
    return {
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "request_id": request_id,
        "model_version": model_version,
        **features,
        "churn_probability": probability,
    }
