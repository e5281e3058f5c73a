"""An asyncio loop on virtual time: sleeping advances the clock instantly, so scheduler tests
are exact and take milliseconds."""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _AdvancingSelector:
    def __init__(self, loop: VirtualTimeLoop, real: selectors.BaseSelector) -> None:
        self._loop = loop
        self._real = real

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = self._real.select(0)
        if not ready and timeout is not None and timeout > 0:
            self._loop.now += timeout
        return ready

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self._selector = _AdvancingSelector(self, self._selector)  # type: ignore[has-type]

    def time(self) -> float:
        return self.now


def run_virtual(coroutine: Coroutine[Any, Any, T]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()
