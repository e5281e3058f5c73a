"""Readiness state behind `/readyz`: ready only once the model is loaded and warmed up."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["Readiness"]

R = TypeVar("R")


class Readiness:
    """Whether the service may receive traffic.

    `/readyz` answers 200 only after both `model_loaded()` and `warmed_up()` were called (or
    `mark_ready()`, which does both); until then, and after `mark_not_ready()`, it answers
    503 so a load balancer or Kubernetes keeps traffic away. `/livez` never looks at it: a
    process that is loading a model is alive, and restarting it would only start the load
    again. The flags may be set from any thread.
    """

    def __init__(self, *, loaded: bool = False, warmed: bool = False) -> None:
        self._lock = threading.Lock()
        self._loaded = loaded
        self._warmed = warmed
        self._reason: str | None = None

    @property
    def is_ready(self) -> bool:
        return self._loaded and self._warmed and self._reason is None

    def status(self) -> dict[str, Any]:
        """The JSON body `/readyz` returns."""
        with self._lock:
            body: dict[str, Any] = {
                "ready": self._loaded and self._warmed and self._reason is None,
                "model_loaded": self._loaded,
                "warmed_up": self._warmed,
            }
            if self._reason is not None:
                body["reason"] = self._reason
            elif not self._warmed:
                # A 503 that names the call the service still has to make.
                body["waiting_for"] = "readiness.warm_up(predict, example) or mark_ready()"
            return body

    def model_loaded(self) -> None:
        """Record that the model is in memory (not yet enough to be ready)."""
        with self._lock:
            self._loaded = True

    def warmed_up(self) -> None:
        """Record that one real prediction has run (first-call costs are paid)."""
        with self._lock:
            self._warmed = True

    def mark_ready(self) -> None:
        """Record both model load and warm-up, and clear any `mark_not_ready` reason."""
        with self._lock:
            self._loaded = True
            self._warmed = True
            self._reason = None

    def mark_not_ready(self, reason: str) -> None:
        """Take the service out of rotation (e.g. while a new model loads, or on shutdown)."""
        with self._lock:
            self._reason = reason

    def warm_up(self, predict: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run one prediction, then mark the model loaded and warmed up; returns its result.

        If the prediction raises, the exception propagates and readiness is unchanged: a
        model that cannot predict must not receive traffic.
        """
        result = predict(*args, **kwargs)
        self.mark_ready()
        return result

    async def warm_up_async(
        self, predict: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any
    ) -> R:
        """`warm_up` for an async prediction function."""
        result = await predict(*args, **kwargs)
        self.mark_ready()
        return result
