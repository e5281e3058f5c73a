"""Per-request stage timers held in a ContextVar: `with stage("predict"):` and friends."""

from __future__ import annotations

import functools
import inspect
import re
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from infermedic.errors import ConfigError

__all__ = [
    "RequestContext",
    "Stage",
    "current_request_context",
    "current_request_id",
    "stage",
]

P = ParamSpec("P")
R = TypeVar("R")

# A Server-Timing metric name is an RFC 7230 `token`; anything else would corrupt the header.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_RESERVED = frozenset({"total"})


class RequestContext:
    """What the middleware knows about the request being served in this context.

    `stages` is a plain list of `(name, seconds)` pairs. The ContextVar holds the object, not
    the list, so a stage recorded in a worker thread (Starlette's `run_in_threadpool` and
    `asyncio.to_thread` run the function in a *copy* of the context) appends to the same list
    the middleware reads when the response starts.
    """

    __slots__ = ("request_id", "stages", "start", "traceparent")

    def __init__(self, request_id: str, traceparent: str | None, start: float) -> None:
        self.request_id = request_id
        self.traceparent = traceparent
        self.start = start
        self.stages: list[tuple[str, float]] = []


_request_context: ContextVar[RequestContext | None] = ContextVar(
    "infermedic_request_context", default=None
)


def current_request_context() -> RequestContext | None:
    """The context of the request being served, or None outside an instrumented request."""
    return _request_context.get()


def current_request_id() -> str | None:
    """The `X-Request-ID` of the request being served (echoed or generated), or None."""
    context = _request_context.get()
    return None if context is None else context.request_id


# Names already validated: a stage is created per call, the regex need not run every time.
_checked_names: set[str] = set()


def _check_name(name: str) -> None:
    if not _TOKEN.fullmatch(name):
        raise ConfigError(
            f"stage name {name!r} is not a valid Server-Timing metric name",
            hint="use letters, digits and -_. only, e.g. 'preprocess'",
        )
    if name in _RESERVED:
        raise ConfigError(
            f"stage name {name!r} is reserved",
            hint="the middleware adds 'total' itself; pick another name",
        )


class Stage:
    """Times one named stage of the current request.

    Use it as `with stage("pre"):`, `async with stage("pre"):` or as a decorator on a sync or
    async function (`@stage("predict")`). Outside an instrumented request it still measures
    (`duration_s` after the block) but records nothing.
    """

    __slots__ = ("_start", "duration_s", "name")

    def __init__(self, name: str) -> None:
        if name not in _checked_names:
            _check_name(name)
            _checked_names.add(name)
        self.name = name
        self._start = 0.0
        self.duration_s: float | None = None

    def __enter__(self) -> Stage:
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Recorded on failure too: the time a failing stage took is part of the request's time.
        self.duration_s = time.perf_counter() - self._start
        context = _request_context.get()
        if context is not None:
            context.stages.append((self.name, self.duration_s))

    async def __aenter__(self) -> Stage:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        name = self.name
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_timed(*args: P.args, **kwargs: P.kwargs) -> Any:
                # A fresh timer per call: one decorated function may run concurrently.
                with Stage(name):
                    return await cast(Callable[P, Awaitable[Any]], fn)(*args, **kwargs)

            return cast(Callable[P, R], async_timed)

        @functools.wraps(fn)
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            with Stage(name):
                return fn(*args, **kwargs)

        return timed


def stage(name: str) -> Stage:
    """A timer for the stage `name` of the current request (context manager or decorator)."""
    return Stage(name)


def _bind(context: RequestContext) -> Any:
    """Make `context` the current request context; returns the token to reset it with."""
    return _request_context.set(context)


def _unbind(token: Any) -> None:
    _request_context.reset(token)
