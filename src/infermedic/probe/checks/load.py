"""Open-loop load at a fixed rate, with `/metrics` scraped before and after."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from infermedic.probe.context import LoadResult, ProbeContext
from infermedic.probe.http import ProbeClient
from infermedic.probe.loadgen import Clock, LoadRecorder, Sender, open_loop
from infermedic.probe.metrics import MetricsParseError, Sample, parse_metrics, stage_times, total
from infermedic.probe.workers import open_loop_in_workers

SenderFactory = Callable[[str, str, bytes | None], AbstractAsyncContextManager[Sender]]


async def scrape(client: ProbeClient, path: str | None) -> dict[Sample, float]:
    """One `/metrics` scrape; empty when there is none or it does not parse."""
    if path is None:
        return {}
    answer = await client.get(path)
    if not answer.ok:
        return {}
    try:
        return parse_metrics(answer.body.decode("utf-8", "replace"))
    except MetricsParseError:
        return {}


async def run_load(
    ctx: ProbeContext,
    client: ProbeClient,
    senders: SenderFactory,
    *,
    body: bytes,
    stop: asyncio.Event,
    clock: Clock,
    use_processes: bool,
    url: str,
    headers: dict[str, str],
) -> LoadResult:
    plan = ctx.plan
    path = ctx.service.predict_path or "/"
    limits = ctx.thresholds
    before = await scrape(client, ctx.service.metrics_path)
    recorder: LoadRecorder
    if plan.workers > 1 and use_processes:
        recorder = await open_loop_in_workers(
            url=url,
            method="POST",
            body=body,
            headers=headers,
            rate=plan.rate,
            duration_s=plan.duration_s,
            workers=plan.workers,
            max_in_flight=plan.max_in_flight,
            window_s=plan.window_s,
            late_tolerance_s=limits.late_send_tolerance_ms / 1000.0,
            timeout_s=plan.timeout_s,
            stop=stop,
            max_body=plan.max_body,
        )
    else:
        async with senders("POST", path, body) as sender:
            recorder = await open_loop(
                sender,
                rate=plan.rate,
                duration_s=plan.duration_s,
                clock=clock,
                max_in_flight=plan.max_in_flight,
                window_s=plan.window_s,
                late_tolerance_s=limits.late_send_tolerance_ms / 1000.0,
                stop=stop,
                timeout_s=plan.timeout_s,
            )
    after = await scrape(client, ctx.service.metrics_path)
    return LoadResult(
        recorder=recorder,
        rate=plan.rate,
        duration_s=plan.duration_s,
        workers=plan.workers,
        trustworthy=recorder.kept_schedule(limits.late_send_fraction),
        stages=stage_times(before, after) if before and after else [],
        metrics_requests=_request_delta(before, after),
    )


def _request_delta(before: dict[Sample, float], after: dict[Sample, float]) -> float | None:
    for name in (
        "http_server_request_duration_seconds_count",
        "http_request_duration_highr_seconds_count",
        "http_requests_total",
        "starlette_requests_total",
    ):
        end = total(after, name)
        if end is not None:
            return end - (total(before, name) or 0.0)
    return None


def timing_stage_means(recorder: LoadRecorder) -> dict[str, Any]:
    """Mean ms per stage from `Server-Timing`/`x-*-time` headers of the load responses."""
    return {
        stage: {
            "mean_ms": round(recorder.stage_sum_ms[stage] / count, 3),
            "responses": count,
        }
        for stage, count in recorder.stage_count.items()
        if count
    }
