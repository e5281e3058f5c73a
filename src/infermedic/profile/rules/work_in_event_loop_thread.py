"""PROF013: a live service's event-loop thread is held by work, named by function and line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.attribution import describe_places, notable_places, share_test
from infermedic.profile.context import ProfileObservations, ProfileRule, as_json
from infermedic.profile.live_results import LivePlace, LiveSummary, LiveThread
from infermedic.profile.stacks import (
    BLOCKING,
    LIBRARY,
    LOCK,
    MODEL,
    PREPROCESSING,
    SERIALISATION,
)


class WorkInEventLoopThread(ProfileRule):
    """## What it does
    Checks, from stack samples of a running service (py-spy), whether the asyncio event-loop
    thread is held by work instead of waiting on its selector, and names where: the
    service's function with file and line (a pure-Python loop, a tokenizer, a model call, a
    database query, JSON encoding of a large response), or the library doing the work when
    no service frame is on the stack (the framework encoding a response).

    ## Why is this bad?
    While the event-loop thread runs a model call, a feature loop or a blocking query, no
    other request on that worker is read, routed or answered: health checks time out and
    latency grows with every concurrent request.

    ## How it's measured
    py-spy samples every thread of the process twice over the same seconds (every sample,
    and on-CPU samples only; 100 Hz for `--duration` seconds). The event-loop thread is the
    one whose stacks run asyncio's or uvloop's loop. Each of its samples is one of: awaiting
    (in the selector; not work); held, at a place (the innermost frame of the service's own
    code, split by what it calls; with no service frame, the library doing the work);
    the server's own plumbing (uvicorn, starlette, anyio with nothing recognised below;
    not counted); or off CPU at a line that calls nothing blocking (most likely the GIL,
    held by other threads; not counted). Held samples are those on CPU, plus those off CPU
    at a call that waits (sleep, socket or database I/O, a lock, a model library). Fires
    when the lower end of the 95% Wilson interval of the held share is at least
    `loop-busy-share` (default 0.2), over at least `loop-min-samples` (default 100) loop
    samples; otherwise a notification says whether the reading was inconclusive or lacked
    samples. The message names the top three places with their shares and intervals, and
    the fix points at the top one.

    ## Known problems
    Successive samples of one long call are not independent, so the interval is narrower
    than the truth; the minimum sample count and a longer `--duration` temper that. A
    blocking call is told from a GIL wait by reading the sampled line's source: where the
    service's files are not readable from here (another container), an off-CPU sleep on
    the loop counts as waiting, not as work. Native code is not visible without `--native`.
    """

    code: ClassVar[str] = "PROF013"
    name: ClassVar[str] = "work-in-event-loop-thread"
    severity: ClassVar[Severity] = Severity.HIGH
    summary: ClassVar[str] = "The event-loop thread is held by work instead of awaiting."
    fix: ClassVar[str] = (
        "Move the work the evidence names off the event loop: call it through "
        "`await run_in_threadpool(...)` (or `asyncio.to_thread`), use an async client for "
        "I/O, or declare the route with plain `def`."
    )
    risk: ClassVar[str] = "Requests queue behind one another; health checks time out."
    phases: ClassVar[tuple[str, ...]] = ("live",)
    checklist: ClassVar[tuple[str, ...]] = ("D-03",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        live = observations.live
        if live is None or live.loop_thread is None:
            return
        loop = live.loop_thread
        limits = observations.thresholds
        test = share_test(
            loop.held_samples,
            loop.samples,
            threshold=limits.loop_busy_share,
            min_samples=limits.loop_min_samples,
        )
        places = list(loop.places)
        if test.verdict != "fires" or not places:
            return
        top = places[0]
        described = describe_places(notable_places(places, test.samples), test.samples)
        model_note = _model_note(live, loop)
        message = (
            f"the event-loop thread was held by work in {test.share:.0%} of {test.samples} "
            f"samples ({test.interval()}, lower end must reach {test.threshold:.0%}): "
            + "; ".join(described)
        )
        if top.samples < 0.5 * test.hits:
            message += f" (the top place holds {top.samples / test.hits:.0%} of the work)"
        if model_note:
            message += f"; {model_note}"
        evidence = observations.evidence(
            "py-spy record of every thread, idle samples included",
            thread=loop.name,
            criterion=test.criterion(),
            **test.as_values(),
            busy_share=round(test.share, 4),
            awaiting_samples=loop.awaiting_samples,
            framework_samples=loop.framework_samples,
            waiting_samples=loop.waiting_samples,
            places=[as_json(p) for p in places[:3]],
            model_on_loop_samples=loop.model_samples,
            model_off_loop=as_json(live.model_off_loop),
            category_shares=dict(loop.category_shares),
        )
        location = observations.location
        if top.own_code and top.path:
            location = replace(location, path=top.file or top.path, line=top.line)
        yield self.finding(
            location,
            message,
            evidence=[evidence],
            fix=fix_for(top, model_note),
            fingerprint_key=f"{top.function}|{top.category}",
            # half the loop's time held by work cannot come from a busy host: contention
            # and a starved GIL show as waiting, not as work (see the GIL note)
            effect=test.effect("share of loop-thread samples held by work", strong=0.5),
        )


def _model_note(live: LiveSummary, loop: LiveThread) -> str:
    """Say so when the model call already runs off the loop, so nobody moves it again."""
    off = live.model_off_loop
    if not off.samples or loop.model_samples:
        return ""
    threads = len(off.threads)
    return (
        f"the model call already runs off the loop ({off.samples} samples in "
        f"`{off.entry}` on {threads} worker thread{'s' if threads != 1 else ''}, "
        "none on the loop)"
    )


def fix_for(place: LivePlace, model_note: str = "") -> str:
    """A fix aimed at the place that holds the loop, never at a call already off it."""
    function = place.function
    where = f"`{function}` ({place.site})"
    handler = _named(place.via) if place.own_code else ""
    caller = _named(place.via)
    # A helper the route calls is what to hand to a thread; when the place is the route
    # handler itself, the call it makes is.
    callee = _callable(place.calls)
    target = function if handler else (callee or "...")
    if "." in target and handler:
        # A method: the call goes through an instance the handler holds.
        owner, _, method = target.rpartition(".")
        target = f"<the {owner.rpartition('.')[2]}>.{method}"
    threaded = f"`await run_in_threadpool({target}, ...)`" + (f" in {handler}" if handler else "")
    category = place.category
    if category == MODEL:
        if place.own_code:
            method = (callee or "predict").rpartition(".")[2]
            text = (
                f"Run the model call `{callee or 'predict'}` made at {where} off the loop: "
                f"`await run_in_threadpool(model.{method}, X)`, or declare the route with "
                "plain `def`."
            )
        else:
            text = (
                f"A model call in library code ({where}, called from {caller}) "
                "runs on the loop: call it through `await run_in_threadpool(...)`."
            )
    elif category == SERIALISATION:
        if place.own_code:
            text = (
                f"Encoding or decoding at {where} holds the loop: return a smaller payload "
                f"(page it), run it in a thread ({threaded}), or use a faster codec (orjson)."
            )
        else:
            text = (
                f"The framework's encoding or validation ({where}, called from {caller}) "
                "holds the loop: return smaller responses (page them), "
                "or encode in a thread (`body = await run_in_threadpool(json.dumps, data)`) "
                "and return a `Response` with the bytes."
            )
    elif category in {BLOCKING, LOCK}:
        text = f"{where} {_blocking_advice(category, place.code)}: {threaded}."
    elif category == LIBRARY and not place.own_code:
        text = (
            f"Library code {where} (called from {caller}) holds the loop: run the "
            "call that reaches it through `await run_in_threadpool(...)`."
        )
    elif handler:
        text = (
            f"Move {where} off the event loop: call it as {threaded}, or declare the route "
            "with plain `def`; for CPU-heavy work, a process pool."
        )
    else:
        what = "preprocessing" if category == PREPROCESSING else "work"
        text = (
            f"Move the {what} at {where} into a plain function called through "
            f"`await run_in_threadpool(...)`, or declare `{function}` with plain `def`."
        )
    if model_note and category != MODEL:
        text += " The model call already runs in a worker thread; leave it there."
    return text


def _named(described: str | None) -> str:
    """`predict (app.py:16)` as "`predict` (app.py:16)"; empty for None."""
    if not described:
        return ""
    function, sep, site = described.partition(" (")
    return f"`{function}` ({site}" if sep else f"`{function}`"


def _callable(described: str | None) -> str:
    """How the service names a call it made: `dumps (json/__init__.py:231)` is
    `json.dumps`; a method (`ForestClassifier.predict_proba`) keeps its class."""
    if not described:
        return ""
    function, _, site = described.partition(" (")
    package = site.split("/", 1)[0] if "/" in site else ""
    if "." in function or not package or package.startswith("<") or not package.isidentifier():
        return function
    return f"{package}.{function}"


# What the hot line of a blocking place calls, and the async way to do it.
_ADVICE = (
    (
        re.compile(r"\bsleep\s*\("),
        "sleeps on the loop: `await asyncio.sleep(...)`, or run it in a thread",
    ),
    (
        re.compile(r"\.(execute\w*|fetch\w*|commit|rollback|cursor)\s*\(|\bquery\s*\("),
        "queries a database on the loop: use an async driver (aiosqlite, asyncpg, "
        "SQLAlchemy's `AsyncSession`), or run the query in a thread",
    ),
    (
        re.compile(r"\b(requests|httpx|urllib|urlopen|session|client)\b.*\(", re.IGNORECASE),
        "calls the network on the loop: use an async client (`httpx.AsyncClient`, "
        "`redis.asyncio`), or run the call in a thread",
    ),
    (
        re.compile(r"\.(write\w*|flush|read\w*)\s*\(|\bopen\s*\("),
        "does file or stream I/O on the loop: hand the writes to a bounded queue and a "
        "background writer thread, or run them in a thread",
    ),
)


def _blocking_advice(category: str, code: str) -> str:
    if category == LOCK:
        return (
            "waits on a thread lock or future on the loop: use `asyncio.Lock`, "
            "`await asyncio.wrap_future(...)`, or run the waiting call in a thread"
        )
    for pattern, advice in _ADVICE:
        if pattern.search(code):
            return advice
    return "makes a blocking call on the loop: use an async client, or run it in a thread"
