"""The CPU other processes use while the worker measures: a busy host biases a thread sweep."""

from __future__ import annotations

import os
import time
from pathlib import Path


class ForeignCpu:
    """CPU that other processes used, in cores, while a measurement ran.

    A thread sweep on a busy host is biased against more threads: a setting with more
    workers than the cores the others leave waits for CPU, whatever the model does. So the
    sweep measures what the rest of the host used on the cores this process may run on
    (per-CPU busy time from psutil, minus this process and its children). Where a cgroup
    quota caps this process below its affinity set, the host's other tenants are not its
    contention: what counts is the cgroup's own usage (`cpu.stat`) minus this process.
    `cores_used()` is None where neither can be read.
    """

    def __init__(self, cores: int | None = None, root: Path = Path("/sys/fs/cgroup")) -> None:
        """`cores`: the cores this process may use (affinity and quota, from the parent);
        fewer than the affinity set means a quota caps it."""
        self._root = root
        self._clock = time.monotonic
        self._cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self._by_cgroup = cores is not None and 0 < cores < len(self._cpus)
        self._start = self._sample()

    def _busy_s(self) -> float | None:
        if self._by_cgroup:
            try:
                for line in (self._root / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
            except (OSError, ValueError):
                return None
            return None
        import psutil

        try:
            times = psutil.cpu_times(percpu=True)
        except (OSError, RuntimeError):
            return None
        cpus = [times[i] for i in self._cpus if i < len(times)] or list(times)
        # busy: all but idle and iowait; guest time is already in user (steal counts: not ours)
        return sum(
            sum(t) - t.idle - sum(getattr(t, k, 0.0) for k in ("iowait", "guest", "guest_nice"))
            for t in cpus
        )

    @staticmethod
    def _own_s() -> dict[int, float]:
        import psutil

        me = psutil.Process()
        own: dict[int, float] = {}
        for process in [me, *me.children(recursive=True)]:
            try:
                t = process.cpu_times()
            except (psutil.Error, OSError):
                continue
            own[process.pid] = t.user + t.system
        return own

    def _sample(self) -> tuple[float, float | None, dict[int, float]]:
        return self._clock(), self._busy_s(), self._own_s()

    def cores_used(self) -> float | None:
        """Mean cores the others used since construction; None when not measurable."""
        started, busy0, own0 = self._start
        now, busy1, own1 = self._sample()
        elapsed = now - started
        if busy0 is None or busy1 is None or elapsed <= 0:
            return None
        own = sum(value - own0.get(pid, 0.0) for pid, value in own1.items())
        return max(0.0, (busy1 - busy0 - own) / elapsed)
