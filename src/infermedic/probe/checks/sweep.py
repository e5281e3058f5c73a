"""Closed-loop concurrency sweep: each step until its windows agree, then the knee."""

from __future__ import annotations

import asyncio

from infermedic.probe.checks.load import SenderFactory
from infermedic.probe.context import ProbeContext
from infermedic.probe.loadgen import Clock, StepResult, closed_loop

KNEE_GAIN = 0.10  # a step that adds less than 10 % throughput is past the knee


async def run_sweep(
    ctx: ProbeContext, senders: SenderFactory, *, body: bytes, stop: asyncio.Event, clock: Clock
) -> list[StepResult]:
    plan = ctx.plan
    steps: list[StepResult] = []
    path = ctx.service.predict_path or "/"
    async with senders("POST", path, body) as model:
        for concurrency in plan.sweep:
            if stop.is_set():
                break
            steps.append(
                await closed_loop(
                    model,
                    concurrency=concurrency,
                    window_s=plan.sweep_window_s,
                    max_duration_s=plan.sweep_max_step_s,
                    clock=clock,
                    stop=stop,
                )
            )
    return steps


def knee(steps: list[StepResult]) -> StepResult | None:
    """The last step whose throughput rose at least 10 % over the step before it."""
    if not steps:
        return None
    best = steps[0]
    for previous, step in zip(steps, steps[1:], strict=False):
        if previous.throughput > 0 and step.throughput >= previous.throughput * (1 + KNEE_GAIN):
            best = step
        else:
            break
    return best
