"""`ops/audit.jsonl`: one JSON line per diagnose run, append-only, flushed and fsynced.

Concurrent runs may append to the same file: each line is written with one `write` on a
file opened with `O_APPEND` while holding an exclusive `flock`, so lines never interleave
and nothing earlier is ever rewritten.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infermedic.errors import InputError
from infermedic.redact import redact_data
from infermedic.report.jsonfmt import clean


def redact(value: Any, key: str = "") -> Any:
    """Drop secrets from an entry before it is recorded (`infermedic.redact.redact_data`:
    secret-named keys, URL userinfo and secret query parameters, auth headers, known secrets)."""
    return redact_data(value, key)


def append_entry(path: Path, entry: Mapping[str, Any]) -> None:
    """Append one entry as a JSON line; raises `InputError` when the log cannot be written."""
    line = json.dumps(clean(redact(entry)), ensure_ascii=False, sort_keys=True) + "\n"
    data = line.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"cannot open the audit log {path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            written = os.write(fd, data)
            if written != len(data):  # a short write on a full disk: say so, never truncate
                raise InputError(f"audit log {path}: short write ({written} of {len(data)} bytes)")
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as exc:
        raise InputError(f"cannot append to the audit log {path}: {exc}") from exc
    finally:
        os.close(fd)


def read_entries(path: Path) -> list[dict[str, Any]]:
    """Every entry of the log, oldest first; a corrupt line is an `InputError` naming it."""
    entries: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number} is not a JSON line: {exc}") from exc
    return entries
