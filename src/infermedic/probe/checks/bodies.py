"""Memory per request body: identical bodies against distinct ones, in interleaved rounds.

A cache keyed by the request (an unbounded `dict`, `functools.cache` on the features) never
grows under a load test that repeats one body, and grows with every new body in production.
Sending the known-good body N times, then N distinct bodies, twice, with the service's
resident memory read around each phase, shows which requests the growth follows.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from infermedic.live import current_meter
from infermedic.model import Notification, NotificationLevel
from infermedic.probe.checks.memory import sample_memory
from infermedic.probe.context import ProbeContext
from infermedic.probe.http import ProbeClient
from infermedic.probe.observations import BodyMemoryPhase
from infermedic.probe.payload import unique_bodies

CONCURRENCY = 4
DEADLINE_S = 60.0  # the whole check; a slow service gets fewer rounds, and says so


def mark_varied_traffic(ctx: ProbeContext) -> None:
    """Note when requests other than the identical known-good body begin (memory clock)."""
    if ctx.identical_load_end_s is None and "memory_t0" in ctx.extra:
        ctx.identical_load_end_s = round(time.perf_counter() - float(ctx.extra["memory_t0"]), 3)


async def run_body_memory(
    ctx: ProbeContext, client: ProbeClient, stop: asyncio.Event
) -> list[BodyMemoryPhase]:
    """Identical then distinct bodies, `plan.cache_rounds` times, `plan.cache_requests` each."""
    service = ctx.service
    plan = ctx.plan
    path, body = service.predict_path, service.request_body
    if path is None or body is None or plan.cache_rounds < 1 or plan.cache_requests < 1:
        return []
    count, rounds = plan.cache_requests, plan.cache_rounds
    distinct = unique_bodies(body, count * rounds)
    if not distinct:
        _note(ctx, "memory per distinct body not measured: the request body has no value to vary")
        return []
    mark_varied_traffic(ctx)
    first = await sample_memory(ctx, client)
    if first is None:
        _note(
            ctx,
            "memory per distinct body not measured: no memory source (give --pid, or serve "
            "process_resident_memory_bytes on /metrics)",
        )
        return []
    meter = current_meter()
    if meter is not None:  # the load's memory rounds: tens of seconds on a slow service
        meter.start("probe memory per body", planned_requests=2 * count * rounds)
    phases: list[BodyMemoryPhase] = []
    started = time.perf_counter()
    before = first
    for number in range(rounds):
        for kind in ("identical", "distinct"):
            if stop.is_set() or time.perf_counter() - started > DEADLINE_S:
                _note(ctx, f"body-memory check stopped after {len(phases)} phase(s) (deadline)")
                return phases
            bodies = [body] * count if kind == "identical" else distinct[number * count :][:count]
            errors, times = await _send_all(client, path, bodies)
            after = await sample_memory(ctx, client)
            if after is None:
                _note(ctx, "body-memory check stopped: the memory source stopped answering")
                return phases
            phases.append(
                BodyMemoryPhase(
                    kind=kind,
                    round=number + 1,
                    requests=len(bodies),
                    errors=errors,
                    rss_before=before.rss_bytes,
                    rss_after=after.rss_bytes,
                    source=after.source,
                    body_example=bodies[0],
                    median_ms=round(statistics.median(times) * 1e3, 3) if times else None,
                )
            )
            before = after
    return phases


async def _send_all(
    client: ProbeClient, path: str, bodies: list[object]
) -> tuple[int, list[float]]:
    """POST every body, `CONCURRENCY` at a time: how many did not get a 2xx, and the
    response times (seconds) of those that did."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(body: object) -> tuple[bool, float]:
        async with gate:
            answer = await client.request("POST", path, json_body=body)
            return answer.ok, answer.elapsed_s

    answers = await asyncio.gather(*(one(b) for b in bodies))
    return sum(not ok for ok, _ in answers), [t for ok, t in answers if ok]


def _note(ctx: ProbeContext, message: str) -> None:
    ctx.notifications.append(Notification(level=NotificationLevel.NOTE, message=message))
