"""PROF013: a live service's event-loop thread spends its samples working, not awaiting."""

from __future__ import annotations

from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileContext, ProfileRule


class WorkInEventLoopThread(ProfileRule):
    """## What it does
    Checks, from stack samples of a running service (py-spy), whether the asyncio event-loop
    thread runs model compute, preprocessing, blocking I/O or sleeps instead of waiting on
    its selector.

    ## Why is this bad?
    While the event-loop thread runs a model call or a blocking call, no other request on
    that worker is read, routed or answered: health checks time out and latency grows with
    every concurrent request. It is the live corroboration of a sync model call inside an
    `async def` route.

    ## How it's measured
    py-spy samples every thread of the process (with and without idle threads, at 100 Hz
    for `--duration` seconds). The event-loop thread is the one whose stacks run asyncio or
    uvloop's loop. Each of its samples is classified by its innermost recognised frame.
    Fires when model compute, preprocessing, blocking I/O or sleep and lock waits together
    hold at least `loop-busy-share` (default 0.2) of the thread's samples; the top frames
    (file:line) are the evidence. Encoding responses (serialisation) is the loop's own work
    in an async framework and does not count.
    """

    code: ClassVar[str] = "PROF013"
    name: ClassVar[str] = "work-in-event-loop-thread"
    severity: ClassVar[Severity] = Severity.HIGH
    summary: ClassVar[str] = "The event-loop thread spends its time in blocking work."
    fix: ClassVar[str] = (
        "Run the model call and other blocking work off the loop: a plain `def` route, "
        "`await run_in_threadpool(model.predict, x)` or `loop.run_in_executor(...)`."
    )
    risk: ClassVar[str] = "Requests queue behind one another; health checks time out."
    checklist: ClassVar[tuple[str, ...]] = ("D-03",)

    def check(self, context: ProfileContext) -> list[Finding]:
        live = context.phase("live")
        if live is None or live.get("loop_thread") is None:
            return []
        loop = live["loop_thread"]
        share = loop.get("loop_blocking_share", loop["busy_share"])
        if share < context.thresholds.loop_busy_share or loop["samples"] == 0:
            return []
        parts = ", ".join(
            f"{name} {value:.0%}" for name, value in loop["category_shares"].items() if value > 0
        )
        top = loop["top_frames"][:1]
        where = f"; most samples at {top[0]['frame']}" if top else ""
        message = (
            f"the event-loop thread ran blocking work in {share:.0%} of {loop['samples']} samples "
            f"({parts}){where}"
        )
        evidence = context.evidence(
            "py-spy record of every thread, idle samples included",
            thread=loop["name"],
            samples=loop["samples"],
            busy_share=share,
            category_shares=loop["category_shares"],
            top_frames=loop["top_frames"],
        )
        return [self.finding(context.location, message, evidence=[evidence])]
