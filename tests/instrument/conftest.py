"""Fixtures for the instrumentation tests: a private metrics registry per test."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry


@pytest.fixture
def registry() -> CollectorRegistry:
    # A fresh registry per test: counters start at zero and tests cannot see each other.
    return CollectorRegistry()


@pytest.fixture
def anyio_backend() -> str:
    # anyio's pytest plugin runs the `async def` tests; asyncio is what uvicorn runs.
    return "asyncio"
