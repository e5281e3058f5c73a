"""Judging a live py-spy summary: the PROF013/PROF014 findings, the notes that say what could
not be judged (too few samples, a loop starved of the GIL), and the tables of the report.
A recorded summary replays through `judge` without a service."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from infermedic.model import Finding, Location, Notification, NotificationLevel, Table
from infermedic.profile.attribution import ShareTest, share_test, wilson_interval
from infermedic.profile.config import ProfileThresholds
from infermedic.profile.context import ProfileObservations
from infermedic.profile.live_results import LiveSummary, LiveThread
from infermedic.runner import RuleOutcome, run_rules, select_rules

# The loop thread off CPU (not in its selector) in at least this share of its samples, while
# another thread was on CPU in at least as many, is reported as starved of the GIL.
_STARVED_SHARE = 0.1


def judge(
    summary: LiveSummary | Mapping[str, Any],
    thresholds: ProfileThresholds,
    *,
    location: Location,
    action: str,
) -> tuple[list[Finding], list[Notification]]:
    """The findings of PROF013 and PROF014 on a summary, and what could not be judged. A
    recorded summary replays through here without a service."""
    outcome = judge_live(summary, thresholds, location=location, action=action)
    return list(outcome.findings), list(outcome.notifications)


def judge_live(
    summary: LiveSummary | Mapping[str, Any],
    thresholds: ProfileThresholds,
    *,
    location: Location,
    action: str,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
) -> RuleOutcome:
    """The live rules `select`/`ignore` leave on, run on `summary` by the shared runner
    (selection, per-rule isolation, `rules_run`), with the notes of the rules that ran."""
    from infermedic.profile.rules import LIVE_RULES

    live = _typed(summary)
    rules = select_rules(LIVE_RULES, select, ignore)
    observations = ProfileObservations(
        live=live, thresholds=thresholds, location=location, action=action
    )
    outcome = run_rules(rules, observations)
    chosen = {rule.code for rule in rules}
    notes = [n for n in live_notes(live, thresholds) if n.rule is None or n.rule in chosen]
    return replace(outcome, notifications=(*outcome.notifications, *notes))


def _typed(summary: LiveSummary | Mapping[str, Any]) -> LiveSummary:
    return summary if isinstance(summary, LiveSummary) else LiveSummary.from_summary(summary)


def live_notes(
    summary: LiveSummary | Mapping[str, Any], thresholds: ProfileThresholds
) -> list[Notification]:
    """What a reader must know to trust the verdicts: readings without the power to judge,
    and a loop starved by other threads rather than busy itself."""
    summary = _typed(summary)
    notes = [
        Notification(
            level=NotificationLevel.NOTE,
            message=(
                "samples are classified by their innermost recognised frame; garbage "
                "collection and native code are not visible without --native, so their time "
                "counts toward the Python frame that triggered them"
            ),
        )
    ]
    threads = summary.threads
    if not any(t.samples for t in threads):
        notes.append(
            Notification(level=NotificationLevel.WARNING, message="py-spy took no samples")
        )
    loop = summary.loop_thread
    if loop is None:
        notes.append(
            Notification(
                level=NotificationLevel.NOTE,
                message="no thread ran an asyncio or uvloop event loop; no event-loop analysis"
                + _workers_hint(summary.child_pids),
                rule="PROF013",
                underpowered=True,
            )
        )
    else:
        test = share_test(
            loop.held_samples,
            loop.samples,
            threshold=thresholds.loop_busy_share,
            min_samples=thresholds.loop_min_samples,
        )
        note = _power_note(
            "PROF013", "the event-loop thread was held by work", "loop-thread samples", test
        )
        if note is not None:
            notes.append(note)
        starved = _starved_loop_note(summary, loop, thresholds)
        if starved is not None:
            notes.append(starved)
    from infermedic.profile.rules.lock_contention import lock_wait_test

    locks = lock_wait_test(summary, thresholds)
    if locks.samples:
        note = _power_note(
            "PROF014", "request threads waited on a lock", "request-thread samples", locks
        )
        if note is not None:
            notes.append(note)
    elif threads:
        notes.append(
            Notification(
                level=NotificationLevel.NOTE,
                rule="PROF014",
                underpowered=True,
                message=(
                    "PROF014 not judged: no worker thread ran the service's own code while it "
                    "was sampled (lock waits are looked for in request handlers that run in a "
                    "thread pool: sync routes, or helpers passed to run_in_threadpool)"
                ),
            )
        )
    return notes


def _workers_hint(children: Sequence[int]) -> str:
    if not children:
        return ""
    listed = ", ".join(str(c) for c in children[:8])
    return (
        f" (the process has {len(children)} child process(es), PID {listed}: a server that "
        "forks workers serves requests in them; sample one with --pid)"
    )


def _power_note(code: str, what: str, unit: str, test: ShareTest) -> Notification | None:
    """A notification for a share that could not be judged either way; None when it could."""
    if test.verdict == "underpowered":
        message = (
            f"{code} not judged, too few samples: {test.samples} {unit}, at least "
            f"{test.min_samples} needed; sample longer (--duration) or under load (--url)"
        )
    elif test.verdict == "inconclusive":
        message = (
            f"{code} inconclusive: {what} in {test.share:.0%} of {test.samples} {unit} "
            f"({test.interval()}), which straddles the {test.threshold:.0%} threshold; "
            "sample longer (--duration) to decide"
        )
    else:
        return None
    return Notification(
        level=NotificationLevel.WARNING, message=message, rule=code, underpowered=True
    )


def _starved_loop_note(
    summary: LiveSummary, loop: LiveThread, thresholds: ProfileThresholds
) -> Notification | None:
    """The loop off CPU outside its selector at lines that call nothing blocking, while
    another thread runs: the GIL, held by that thread. Not work on the loop, but it delays
    every request as much."""
    samples = loop.samples
    waiting = loop.waiting_samples
    other = summary.busiest_other_thread()
    if samples < thresholds.loop_min_samples or waiting < _STARVED_SHARE * samples:
        return None
    busy = other.on_cpu_work() if other is not None else 0
    if other is None or busy < _STARVED_SHARE * samples:
        return None
    where = other.top_frames[0].frame if other.top_frames else "-"
    return Notification(
        level=NotificationLevel.NOTE,
        rule="PROF013",
        message=(
            f"the event-loop thread waited off CPU outside its selector, at lines that call "
            f"nothing blocking, in {waiting / samples:.0%} of {samples} samples while "
            f"{other.name} ran on the CPU in {busy / samples:.0%} of them (most at "
            f"{where}): most likely the GIL, held by that thread; not counted as work on "
            "the loop. Move that thread's CPU work to a process, or release the GIL in it"
        ),
    )


def live_tables(summary: LiveSummary) -> tuple[Table, ...]:
    rows: list[tuple[Any, ...]] = []
    frames: list[tuple[Any, ...]] = []
    for thread in summary.threads:
        name = thread.name + (" (event loop)" if thread.event_loop else "")
        for category, count in thread.category_samples.items():
            share = thread.category_shares.get(category, 0.0)
            rows.append((name, category, count, f"{share:.0%}"))
        if thread.idle_samples:
            rows.append((name, "idle (not counted)", thread.idle_samples, ""))
        frames.extend((name, item.category, item.frame, item.samples) for item in thread.top_frames)
    loop = summary.loop_thread
    places: list[tuple[Any, ...]] = []
    if loop is not None and loop.samples:
        samples = loop.samples
        for place in loop.places:
            low, high = wilson_interval(place.samples, samples)
            places.append(
                (
                    f"{place.function} ({place.site})",
                    place.category,
                    f"{place.samples / samples:.0%}",
                    f"{low:.0%}–{high:.0%}",
                    place.on_cpu,
                    place.blocked,
                    place.via or "-",
                )
            )
    return (
        Table(
            title="What holds the event loop (share of the loop thread's samples)",
            columns=("place", "what", "share", "95% CI", "on CPU", "blocked", "called from"),
            rows=tuple(places),
            key="live-loop-places",
        ),
        Table(
            title="Where the samples went, per thread",
            columns=("thread", "category", "samples", "share of thread"),
            rows=tuple(rows),
            key="live-categories",
        ),
        Table(
            title="Top frames",
            columns=("thread", "category", "frame", "samples"),
            rows=tuple(frames),
            key="live-frames",
        ),
    )
