"""Event-loop blocking: a cheap endpoint timed at a low rate, idle and while predict is loaded.

Also measures predict throughput at concurrency 1 and N, which tells a blocked loop or a
serialized model (throughput flat, latency growing with N) from healthy saturation.
"""

from __future__ import annotations

import asyncio

from infermedic.probe.checks.load import SenderFactory
from infermedic.probe.context import BlockingResult, ProbeContext
from infermedic.probe.loadgen import Clock, closed_loop, open_loop

CANARY_IN_FLIGHT = 64
# A path no service has. On FastAPI/Starlette its 404 is answered by the router on the event
# loop itself, with no thread-pool hop: the purest measure of loop responsiveness. A `def`
# health route instead waits for a pool thread and the GIL, which a CPU-bound model in the
# pool also slows, blurring blocking with contention.
LOOP_CANARY = "/__infermedic_canary__"


def canary_path(ctx: ProbeContext) -> str | None:
    """`--health-path` when given; the loop canary on OpenAPI (FastAPI) services; else the
    detected liveness route."""
    if ctx.plan.health_path:
        return ctx.plan.health_path
    if "openapi" in ctx.service.names():
        return LOOP_CANARY
    return ctx.service.liveness_path


WINDOWS_PER_STEP = 6


async def run_blocking(
    ctx: ProbeContext, senders: SenderFactory, *, body: bytes, stop: asyncio.Event, clock: Clock
) -> BlockingResult | None:
    plan = ctx.plan
    health = canary_path(ctx)
    predict = ctx.service.predict_path
    if health is None or predict is None:
        return None
    span = plan.blocking_duration_s
    window = span / WINDOWS_PER_STEP
    async with senders("GET", health, None) as canary, senders("POST", predict, body) as model:
        idle = await open_loop(
            canary,
            rate=plan.canary_rate,
            duration_s=span,
            clock=clock,
            max_in_flight=CANARY_IN_FLIGHT,
            stop=stop,
            timeout_s=plan.timeout_s,
        )
        if stop.is_set():
            return None
        single = await closed_loop(
            model,
            concurrency=1,
            window_s=window,
            max_duration_s=span,
            clock=clock,
            stop=stop,
            until_stable=False,
        )
        if stop.is_set():
            return None
        concurrent_task = asyncio.ensure_future(
            closed_loop(
                model,
                concurrency=plan.blocking_concurrency,
                window_s=window,
                max_duration_s=span,
                clock=clock,
                stop=stop,
                until_stable=False,
            )
        )
        # Let the predict load build up before the canary starts timing.
        await asyncio.sleep(min(window, 0.5))
        loaded = await open_loop(
            canary,
            rate=plan.canary_rate,
            duration_s=max(span - 2 * window, window),
            clock=clock,
            max_in_flight=CANARY_IN_FLIGHT,
            stop=stop,
            timeout_s=plan.timeout_s,
        )
        concurrent = await concurrent_task
    return BlockingResult(
        health_path=health, idle=idle, loaded=loaded, single=single, concurrent=concurrent
    )
