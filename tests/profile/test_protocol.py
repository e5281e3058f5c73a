"""The worker's JSON-lines protocol: every event round-trips, foreign lines are ignored."""

from __future__ import annotations

import numpy as np

from infermedic.profile.protocol import (
    Done,
    PhaseResult,
    PhaseStarted,
    Progress,
    WorkerFailure,
    WorkerNote,
    decode,
    encode,
)
from infermedic.profile.results import ProfileResults
from infermedic.profile.runner import WorkerOutcome, _apply


def test_every_event_round_trips_through_one_line() -> None:
    events = [
        PhaseStarted(name="batch-sweep"),
        PhaseResult(phase="load", data={"load_s": 0.25, "rows": [1, 2]}),
        Progress(phase="threads", fraction=0.5),
        WorkerNote(level="warning", message="gc: skipped, the time budget was spent"),
        WorkerFailure(phase="load", kind="corrupt", message="bad pickle", hint="re-save it"),
        Done(),
    ]
    for event in events:
        line = encode(event)
        assert "\n" not in line
        assert decode(line) == event


def test_numpy_values_become_plain_json() -> None:
    line = encode(PhaseResult(phase="memory", data={"growth": np.int64(3), "v": np.arange(2)}))
    assert decode(line) == PhaseResult(phase="memory", data={"growth": 3, "v": [0, 1]})


def test_lines_that_are_not_protocol_events_are_ignored() -> None:
    for line in ("hello", "[1, 2]", '{"event": "unknown"}', '{"event": "result"}', "{"):
        assert decode(line) is None


def test_the_parent_applies_typed_events() -> None:
    outcome = WorkerOutcome()
    seen: list[tuple[str, float]] = []
    for event in (
        PhaseStarted(name="load"),
        PhaseResult(phase="load", data={"load_s": 1.0}),
        WorkerNote(level="note", message="n"),
        Progress(phase="load", fraction=1.0),
        WorkerFailure(phase="stages", kind="error", message="boom"),
        Done(),
    ):
        _apply(outcome, encode(event), lambda phase, done: seen.append((phase, done)))
    _apply(outcome, "not json", None)
    assert outcome.last_phase == "load" and outcome.results == ProfileResults()
    # a phase result that does not parse (a worker of another version) is an error note
    [error, note] = outcome.notes
    assert error.level == "error" and "profile phase 'load' does not parse" in error.message
    assert note == WorkerNote(level="note", message="n")
    assert outcome.failure == WorkerFailure(phase="stages", kind="error", message="boom")
    assert outcome.finished and seen == [("load", 1.0)]
