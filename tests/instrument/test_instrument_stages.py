"""Stage timers: context managers, decorators, threads and the Server-Timing format."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable

import pytest

from infermedic.errors import ConfigError
from infermedic.instrument import current_request_id, format_server_timing, stage
from infermedic.instrument.stages import RequestContext, _bind, _unbind, current_request_context
from tests.instrument.helpers import parse_server_timing


def _in_request(fn: Callable[[], object]) -> RequestContext:
    """Run `fn` with a bound request context; return the stages it recorded."""
    context = RequestContext("req-1", None, time.perf_counter())
    token = _bind(context)
    try:
        fn()
    finally:
        _unbind(token)
    return context


def test_with_stage_records_name_and_a_duration_at_least_the_work() -> None:
    def handler() -> None:
        with stage("preprocess"):
            time.sleep(0.01)

    context = _in_request(handler)
    assert [name for name, _ in context.stages] == ["preprocess"]
    assert context.stages[0][1] >= 0.01


def test_stage_records_even_when_the_block_raises() -> None:
    def handler() -> None:
        with pytest.raises(ValueError), stage("predict"):
            raise ValueError("model failed")

    assert [name for name, _ in _in_request(handler).stages] == ["predict"]


def test_decorator_on_sync_and_async_functions() -> None:
    @stage("featurize")
    def featurize(x: int) -> int:
        return x + 1

    @stage("predict")
    async def predict(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    async def handler() -> int:
        async with stage("postprocess"):
            pass
        return await predict(featurize(1))

    results: list[int] = []
    context = _in_request(lambda: results.append(asyncio.run(handler())))
    assert results == [4]
    assert [name for name, _ in context.stages] == ["postprocess", "featurize", "predict"]
    assert featurize.__name__ == "featurize"
    assert asyncio.iscoroutinefunction(predict)


def test_stage_in_a_thread_with_a_copied_context_reaches_the_request() -> None:
    # What run_in_threadpool / asyncio.to_thread do: run the function in a context copy.
    def handler() -> None:
        copied = contextvars.copy_context()

        def in_thread() -> None:
            with stage("predict"):
                assert current_request_id() == "req-1"

        async def main() -> None:
            await asyncio.to_thread(copied.run, in_thread)

        asyncio.run(main())

    assert [name for name, _ in _in_request(handler).stages] == ["predict"]


def test_outside_a_request_a_stage_measures_but_records_nothing() -> None:
    assert current_request_context() is None
    with stage("predict") as timer:
        pass
    assert timer.duration_s is not None
    assert timer.duration_s >= 0.0
    assert current_request_id() is None


@pytest.mark.parametrize("name", ["", "pre process", "pré", "a,b", "x;y", 'q"', "predict\n"])
def test_names_that_would_corrupt_the_header_are_refused(name: str) -> None:
    with pytest.raises(ConfigError):
        stage(name)


def test_total_is_reserved_for_the_middleware() -> None:
    with pytest.raises(ConfigError, match="reserved"):
        stage("total")


def test_server_timing_sums_repeats_keeps_order_and_ends_with_total() -> None:
    header = format_server_timing(
        [("preprocess", 0.001234), ("predict", 0.002), ("preprocess", 0.001)], 0.0051
    )
    assert header == "preprocess;dur=2.234, predict;dur=2.000, total;dur=5.100"
    assert parse_server_timing(header) == [
        ("preprocess", 2.234),
        ("predict", 2.0),
        ("total", 5.1),
    ]
