"""Resident memory of the service over the run: psutil when `--pid` is given, else `/metrics`."""

from __future__ import annotations

import asyncio
import time

import psutil

from infermedic.probe.context import ProbeContext
from infermedic.probe.http import ProbeClient
from infermedic.probe.metrics import MetricsParseError, parse_metrics, resident_memory_bytes
from infermedic.probe.observations import MemorySample


async def sample_memory(ctx: ProbeContext, client: ProbeClient) -> MemorySample | None:
    started = ctx.extra.setdefault("memory_t0", time.perf_counter())
    at = round(time.perf_counter() - started, 3)
    pid = ctx.plan.pid
    if pid is not None:
        try:
            process = psutil.Process(pid)
            rss = float(process.memory_info().rss)
            # uvicorn --reload / --workers: the serving process may be a child.
            rss += sum(float(c.memory_info().rss) for c in process.children(recursive=True))
        except (psutil.Error, OSError):
            return None
        return MemorySample(at_s=at, rss_bytes=rss, source=f"psutil RSS of pid {pid}")
    path = ctx.service.metrics_path
    if path is None:
        return None
    answer = await client.get(path)
    if not answer.ok:
        return None
    try:
        value = resident_memory_bytes(parse_metrics(answer.body.decode("utf-8", "replace")))
    except MetricsParseError:
        return None
    if value is None:
        return None
    return MemorySample(at_s=at, rss_bytes=value, source=f"{path} process_resident_memory_bytes")


async def memory_sampler(
    ctx: ProbeContext, client: ProbeClient, stop: asyncio.Event, interval_s: float = 1.0
) -> None:
    """Sample every `interval_s` until `stop` is set; samples go to `ctx.memory`."""
    while not stop.is_set():
        sample = await sample_memory(ctx, client)
        if sample is not None:
            ctx.memory.append(sample)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            continue
