"""Fixtures and observation helpers for the demo scenario tests."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from infermedic.demo.service import RunningService, running_scenario


def port_is_free(port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def process_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """`serve(name)` starts a scenario once per module; all are stopped after the module."""
    services: dict[str, RunningService] = {}
    stacks: list[object] = []

    def start(name: str) -> RunningService:
        if name not in services:
            manager = running_scenario(name, tmp_path_factory.mktemp(name))
            services[name] = manager.__enter__()
            stacks.append(manager)
        return services[name]

    yield start
    for manager in reversed(stacks):
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]
    for service in services.values():
        assert process_gone(service.pid)
        assert port_is_free(service.port)


def timed_get(client: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    client.get(url).raise_for_status()
    return time.perf_counter() - started


def health_latency(service: RunningService, *, under_load: bool, samples: int = 7) -> float:
    """Median liveness latency, alone or while 4 clients keep `/predict` busy.

    The load runs in its own process (`infermedic demo traffic`), so the timing thread here
    does not compete with the load generator for this interpreter's lock.
    """
    load: subprocess.Popen[bytes] | None = None
    if under_load:
        load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infermedic",
                "demo",
                "traffic",
                service.scenario.name,
                service.url,
                "--duration",
                "20",
                "--concurrency",
                "8",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        if load is not None:
            wait_until_busy(service.pid)
        with httpx.Client(timeout=30.0) as client:
            latencies = []
            for _ in range(samples):
                latencies.append(
                    timed_get(client, service.endpoint(service.scenario.liveness_path))
                )
                time.sleep(0.02)
    finally:
        if load is not None:
            load.terminate()
            load.wait(timeout=10)
    return statistics.median(latencies)


def wait_until_busy(pid: int, timeout_s: float = 30.0) -> None:
    """Return once the server process burns a fifth of a core (the load has arrived)."""
    process = psutil.Process(pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = sum(process.cpu_times()[:2])
        time.sleep(0.25)
        if sum(process.cpu_times()[:2]) - before > 0.05:
            return
    raise AssertionError("the load never reached the server")


def newest_log_lines(directory: Path) -> list[str]:
    return [
        line for path in sorted(directory.glob("*.jsonl")) for line in path.read_text().splitlines()
    ]
