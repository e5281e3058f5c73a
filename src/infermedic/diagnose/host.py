"""How busy the measuring host was while each check ran: the noise a timing effect must beat.

A latency or stack-sample effect measured on a host where other processes hold the cores, the
hypervisor steals CPU, or the load generator falls behind its schedule can be the host's
doing, not the service's. The monitor samples the machine's CPU counters in a background
thread and subtracts the CPU used by the service under test (its process tree, found from
`--pid` or from the process listening on the URL's port) and by infermedic's own process
tree: what is left is the neighbours' load.

psutil reads the counters; the attribution to "service", "us" and "others" is ours, since no
library splits a host's CPU that way.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil

# Neighbours using more than this share of the cores, or the hypervisor stealing more than
# this share of CPU time, can explain a timing effect: on 2 cores, one busy neighbour process
# at half a core already makes a CPU-bound request measurably slower and its tail jumpy.
NOISY_OTHERS_SHARE = 0.25
NOISY_STEAL_SHARE = 0.05
TICK_S = 0.25


@dataclass(frozen=True, kw_only=True)
class HostLoad:
    """The host's load over one window (one check)."""

    cores: int
    window_s: float
    others_cores: float  # CPU used by other processes, in cores (0 .. cores)
    steal_share: float  # share of CPU time stolen by the hypervisor
    service_found: bool  # the service's processes were found on this host
    service_cores: float = 0.0
    own_cores: float = 0.0

    @property
    def others_share(self) -> float:
        return self.others_cores / self.cores if self.cores else 0.0

    @property
    def noisy(self) -> str | None:
        """Why this window's timing effects could be the host's doing, or None."""
        reasons = []
        if self.others_share > NOISY_OTHERS_SHARE:
            reasons.append(
                f"other processes used {self.others_cores:.2f} of {self.cores} cores "
                f"({self.others_share:.0%}, over {NOISY_OTHERS_SHARE:.0%})"
            )
        if self.steal_share > NOISY_STEAL_SHARE:
            reasons.append(f"CPU steal {self.steal_share:.0%} (over {NOISY_STEAL_SHARE:.0%})")
        return "; ".join(reasons) or None

    def describe(self) -> str:
        service = (
            f"the service {self.service_cores:.2f}"
            if self.service_found
            else "the service not found on this host (its CPU counts as others')"
        )
        return (
            f"{self.cores} cores over {self.window_s:.1f} s: others {self.others_cores:.2f} "
            f"cores, {service}, infermedic {self.own_cores:.2f}, steal {self.steal_share:.0%}"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "cores": self.cores,
            "window_s": round(self.window_s, 2),
            "others_cores": round(self.others_cores, 3),
            "service_cores": round(self.service_cores, 3),
            "own_cores": round(self.own_cores, 3),
            "steal_share": round(self.steal_share, 4),
            "service_found": self.service_found,
            "noisy": self.noisy,
        }


def service_pids(url: str | None, pid: int | None) -> tuple[int, ...]:
    """The service's main process: `--pid`, else the local process listening on the URL's
    port (only when the URL names this machine)."""
    if pid is not None:
        return (pid,)
    if not url:
        return ()
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ()
    host = (parts.hostname or "").lower()
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0") and not host.startswith("127."):
        return ()
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            laddr = conn.laddr
            if conn.status != psutil.CONN_LISTEN or not isinstance(laddr, tuple) or not laddr:
                continue
            if laddr[1] == port and conn.pid:
                return (conn.pid,)
    return ()


def _tree_cpu(roots: tuple[int, ...], seen: dict[int, float]) -> None:
    """Add each live process of these trees' CPU seconds to `seen` (pid -> latest total)."""
    for root in roots:
        try:
            parent = psutil.Process(root)
            family = [parent, *parent.children(recursive=True)]
        except psutil.Error:
            continue
        for process in family:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                seen[process.pid] = times.user + times.system


class HostMonitor:
    """Samples the host in a daemon thread; `window()` measures one check."""

    def __init__(self, service: tuple[int, ...] = ()) -> None:
        self._service = service
        self._cores = psutil.cpu_count() or os.cpu_count() or 1

    @contextlib.contextmanager
    def window(self) -> Iterator[list[HostLoad]]:
        """Measure the host while the block runs; the list holds one `HostLoad` after it."""
        result: list[HostLoad] = []
        stop = threading.Event()
        service_first: dict[int, float] = {}
        service_last: dict[int, float] = {}
        own_first: dict[int, float] = {}
        own_last: dict[int, float] = {}
        own = (os.getpid(),)

        def tick(first: bool) -> None:
            service_now: dict[int, float] = {}
            own_now: dict[int, float] = {}
            _tree_cpu(self._service, service_now)
            _tree_cpu(own, own_now)
            for now, start, last in (
                (service_now, service_first, service_last),
                (own_now, own_first, own_last),
            ):
                for pid, cpu in now.items():
                    if first or pid not in start:
                        # a process born inside the window started from zero
                        start.setdefault(pid, cpu if first else 0.0)
                    last[pid] = cpu

        def run() -> None:
            while not stop.wait(TICK_S):
                tick(first=False)

        before = psutil.cpu_times()
        started = time.monotonic()
        tick(first=True)
        sampler = threading.Thread(target=run, name="infermedic-host-monitor", daemon=True)
        sampler.start()
        try:
            yield result
        finally:
            stop.set()
            sampler.join(timeout=2.0)
            tick(first=False)
            after = psutil.cpu_times()
            window = max(time.monotonic() - started, 1e-6)
            result.append(
                self._load(before, after, window, service_first, service_last, own_first, own_last)
            )

    def _load(
        self,
        before: object,
        after: object,
        window: float,
        service_first: dict[int, float],
        service_last: dict[int, float],
        own_first: dict[int, float],
        own_last: dict[int, float],
    ) -> HostLoad:
        def delta(name: str) -> float:
            return max(float(getattr(after, name, 0.0)) - float(getattr(before, name, 0.0)), 0.0)

        busy = sum(delta(n) for n in ("user", "nice", "system", "irq", "softirq"))
        total = busy + delta("idle") + delta("iowait") + delta("steal")
        service = sum(service_last[p] - service_first.get(p, 0.0) for p in service_last)
        own = sum(own_last[p] - own_first.get(p, 0.0) for p in own_last)
        others = max(busy - service - own, 0.0)
        return HostLoad(
            cores=self._cores,
            window_s=window,
            others_cores=min(others / window, float(self._cores)),
            steal_share=delta("steal") / total if total > 0 else 0.0,
            service_found=bool(self._service),
            service_cores=service / window,
            own_cores=own / window,
        )
