"""The audit log: append-only JSON lines, secrets redacted, safe under concurrent writers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from infermedic.diagnose.timeline import append_entry, read_entries
from infermedic.errors import InputError


def _writer(path: str, worker: int, count: int) -> None:
    for i in range(count):
        append_entry(Path(path), {"worker": worker, "i": i, "pad": "x" * 5000})


def test_entries_append_and_never_rewrite(tmp_path: Path) -> None:
    log = tmp_path / "ops" / "audit.jsonl"
    append_entry(log, {"symptom": "slow", "n": 1})
    first = log.read_bytes()
    append_entry(log, {"symptom": "oom", "n": 2})
    assert log.read_bytes().startswith(first)
    assert [e["n"] for e in read_entries(log)] == [1, 2]


def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append_entry(
        log,
        {"inputs": {"url": "http://user:hunter2@127.0.0.1:8000", "api_key": "sk-secret"}},
    )
    text = log.read_text()
    assert "hunter2" not in text and "sk-secret" not in text
    assert read_entries(log)[0]["inputs"]["api_key"] == "***"


def test_concurrent_writers_do_not_corrupt_the_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(log), w, 40)) for w in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    entries = read_entries(log)  # raises on any torn line
    assert len(entries) == 120
    assert {(e["worker"], e["i"]) for e in entries} == {(w, i) for w in range(3) for i in range(40)}


def test_a_corrupt_line_is_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text('{"ok": 1}\n{not json\n')
    with pytest.raises(InputError, match=r"audit.jsonl:2"):
        read_entries(log)


def test_an_unwritable_log_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot open the audit log"):
        append_entry(blocker / "audit.jsonl", {"a": 1})
