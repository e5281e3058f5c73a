"""The event-loop lag sampler sees a blocked loop."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from infermedic.instrument import InstrumentMetrics, LoopLagMonitor
from tests.instrument.helpers import sample_value

pytestmark = pytest.mark.anyio


async def test_a_blocking_call_on_the_loop_shows_as_lag(registry: CollectorRegistry) -> None:
    metrics = InstrumentMetrics.for_registry(registry)
    monitor = LoopLagMonitor(metrics.loop_lag, metrics.loop_lag_distribution, interval_s=0.02)
    monitor.start()
    monitor.start()  # idempotent
    while monitor.samples < 2:
        await asyncio.sleep(0.01)
    time.sleep(0.3)  # what a sync model.predict() in an `async def` route does to the loop
    seen = monitor.samples
    while monitor.samples < seen + 2:
        await asyncio.sleep(0.01)
    await monitor.stop()
    assert not monitor.running
    # The sampler's sleep was due 20 ms after it started and woke >= 280 ms later: the lag is
    # at least the block minus one interval (a slower machine only makes it larger).
    assert monitor.window_max_lag_s >= 0.3 - 0.02
    text = generate_latest(registry).decode()
    assert sample_value(text, "python_asyncio_event_loop_lag_seconds") == monitor.window_max_lag_s
    count = sample_value(text, "python_asyncio_event_loop_lag_distribution_seconds_count")
    assert count == monitor.samples
    over_quarter_second = sample_value(
        text, "python_asyncio_event_loop_lag_distribution_seconds_bucket", le="0.25"
    )
    assert count is not None and over_quarter_second is not None
    assert count - over_quarter_second >= 1


async def test_stop_without_start_is_harmless() -> None:
    monitor = LoopLagMonitor()
    await monitor.stop()
    assert not monitor.running
