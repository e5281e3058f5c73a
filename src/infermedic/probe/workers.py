"""Several load-generator processes on one schedule, merging their histograms (`--workers`).

Each process sends every `workers`-th slot of the one schedule with its own client and
reports its HDR histograms encoded; the parent decodes and adds them. Each also reports its
own CPU share and event-loop lag, and the merged run keeps the busiest process's.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from infermedic.probe.loadgen import LoadRecorder, open_loop
from infermedic.probe.plan import DEFAULT_MAX_BODY
from infermedic.probe.rawclient import load_sender

_stop_flag: Any = None  # the parent's stop event, inherited through the pool initializer


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerSpec:
    url: str
    method: str
    body: bytes | None
    headers: Mapping[str, str]
    rate: float
    duration_s: float
    start: float  # a `time.perf_counter()` value: CLOCK_MONOTONIC, the same in every process
    worker_index: int
    worker_count: int
    max_in_flight: int
    window_s: float
    late_tolerance_s: float
    timeout_s: float
    max_body: int = DEFAULT_MAX_BODY


def _init_worker(stop_flag: Any) -> None:
    global _stop_flag
    _stop_flag = stop_flag
    # Ctrl-C belongs to the parent, which tells the workers through `stop_flag`.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_worker(spec: WorkerSpec) -> dict[str, Any]:
    """One worker's open loop; returns the recorder's picklable payload."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # uvloop is optional (not on Windows)
        runner = asyncio.run
    payload: dict[str, Any] = runner(_run(spec))
    return payload


async def _run(spec: WorkerSpec) -> dict[str, Any]:
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            if _stop_flag is not None and _stop_flag.is_set():
                stop.set()
            await asyncio.sleep(0.05)

    watcher = asyncio.ensure_future(watch())
    connections = min(spec.max_in_flight, 64)
    async with load_sender(
        spec.url,
        method=spec.method,
        body=spec.body,
        headers=spec.headers,
        timeout_s=spec.timeout_s,
        connections=connections,
        max_body=spec.max_body,
    ) as sender:
        recorder = await open_loop(
            sender,
            rate=spec.rate,
            duration_s=spec.duration_s,
            max_in_flight=spec.max_in_flight,
            window_s=spec.window_s,
            late_tolerance_s=spec.late_tolerance_s,
            stop=stop,
            start=spec.start,
            worker_index=spec.worker_index,
            worker_count=spec.worker_count,
            timeout_s=spec.timeout_s,
        )
    stop.set()
    await watcher
    return recorder.to_payload()


async def open_loop_in_workers(
    *,
    url: str,
    method: str,
    body: bytes | None,
    headers: Mapping[str, str],
    rate: float,
    duration_s: float,
    workers: int,
    max_in_flight: int,
    window_s: float,
    late_tolerance_s: float,
    timeout_s: float,
    stop: asyncio.Event,
    max_body: int = DEFAULT_MAX_BODY,
) -> LoadRecorder:
    """Run the open loop in `workers` processes (each every `workers`-th slot) and merge."""
    context = multiprocessing.get_context("spawn")
    stop_flag = context.Event()
    # Process start-up (spawn + imports) takes about a second; start the schedule after it.
    start = time.perf_counter() + 1.5
    specs = [
        WorkerSpec(
            url=url,
            method=method,
            body=body,
            headers=dict(headers),
            rate=rate,
            duration_s=duration_s,
            start=start,
            worker_index=i,
            worker_count=workers,
            max_in_flight=max(max_in_flight // workers, 1),
            window_s=window_s,
            late_tolerance_s=late_tolerance_s,
            timeout_s=timeout_s,
            max_body=max_body,
        )
        for i in range(workers)
    ]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(stop_flag,)
    ) as pool:
        futures = [loop.run_in_executor(pool, run_worker, spec) for spec in specs]
        relay = asyncio.ensure_future(_relay_stop(stop, stop_flag))
        try:
            payloads = await asyncio.gather(*futures)
        finally:
            relay.cancel()
    return LoadRecorder.merged(list(payloads))


async def _relay_stop(stop: asyncio.Event, stop_flag: Any) -> None:
    await stop.wait()
    stop_flag.set()
