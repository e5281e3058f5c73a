"""Keeping the worker inside its run: every process it starts, and the memory they hold.

A model's code may start processes of its own (a `multiprocessing` pool, a helper that
calls `os.setsid()`, a double-forked daemon). Killing the worker's process group misses a
child that left it, and a child that still holds the worker's pipes keeps the parent
waiting for an end-of-file that never comes. So the parent tracks the worker's tree while
it runs, marks the worker's environment with a token every descendant inherits, and at the
end kills every process in the tree, in the worker's sessions and groups, or carrying the
token.

Memory is limited by watching the resident size (RSS) of that tree from the parent, not
with `RLIMIT_AS`: an address-space limit counts reservations that are never touched
(glibc's per-thread malloc arenas, BLAS buffers, CUDA's multi-GB reservations), so a limit
sized from the available memory breaks ordinary imports on machines with many cores.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

TOKEN_VARIABLE = "INFERMEDIC_WORKER_TOKEN"
# Share of the available memory (or the cgroup's headroom) the worker may hold by default:
# the rest is left to the parent, the page cache and whatever else runs on the machine.
DEFAULT_SHARE = 0.75
MIB = 1 << 20


def new_token() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryLimit:
    """How much resident memory the worker's process tree may hold, and where it came from."""

    limit_bytes: int
    source: str  # "--memory-limit", or how the default was derived

    def describe(self) -> str:
        return f"{self.limit_bytes / MIB:.0f} MiB ({self.source})"


def explicit_limit(megabytes: int) -> MemoryLimit:
    return MemoryLimit(limit_bytes=megabytes * MIB, source="--memory-limit")


def default_memory_limit(
    root: Path = Path("/sys/fs/cgroup"),
    *,
    available_bytes: int | None = None,
    cgroup_path: str | None = None,
) -> MemoryLimit:
    """`DEFAULT_SHARE` of the smaller of the available memory and the cgroup's headroom."""
    available = (
        available_bytes if available_bytes is not None else psutil.virtual_memory().available
    )
    headroom = cgroup_headroom(root, cgroup_path if cgroup_path is not None else _own_cgroup())
    if headroom is not None and headroom < available:
        base, what = headroom, f"the cgroup's {_gib(headroom)} headroom"
    else:
        base, what = available, f"{_gib(available)} available"
    limit = max(64 * MIB, int(base * DEFAULT_SHARE))
    return MemoryLimit(
        limit_bytes=limit, source=f"default: {DEFAULT_SHARE:.0%} of {what}; set --memory-limit"
    )


def _gib(value: int) -> str:
    return f"{value / (1 << 30):.1f} GiB"


def _own_cgroup() -> str:
    """This process's memory cgroup path: the v1 memory controller's line, else v2's `0::`."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return "/"
    entries = [line.split(":", 2) for line in lines if line.count(":") >= 2]
    for _number, controllers, path in entries:
        if "memory" in controllers.split(","):
            return path
    for number, _controllers, path in entries:
        if number == "0":
            return path
    return "/"


def cgroup_headroom(root: Path, cgroup_path: str = "/") -> int | None:
    """Bytes the cgroup still allows (limit minus usage), the smallest along its path;
    None when no memory limit applies. Reads v2 `memory.max`/`memory.current`, else v1
    `memory.limit_in_bytes`/`memory.usage_in_bytes`. In a container the cgroup is usually
    mounted at the root, and the path in /proc/self/cgroup does not exist under it: both
    the root and the path are tried."""
    relative = cgroup_path.strip("/")
    candidates: list[Path] = []
    for base in (root, root / "memory"):
        candidates.append(base)
        if relative:
            parts = Path(relative).parts
            candidates.extend(base.joinpath(*parts[:depth]) for depth in range(1, len(parts) + 1))
    room: list[int] = []
    for directory in candidates:
        for limit_name, usage_name in (
            ("memory.max", "memory.current"),
            ("memory.limit_in_bytes", "memory.usage_in_bytes"),
        ):
            limit = _read_int(directory / limit_name)
            # v1 writes a page-aligned LONG_MAX for "no limit"
            if limit is None or limit >= 1 << 60:
                continue
            usage = _read_int(directory / usage_name) or 0
            room.append(max(0, limit - usage))
    return min(room) if room else None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


class ProcessTree:
    """The worker and everything it started, seen while it runs and found again at the end."""

    def __init__(self, pid: int, token: str) -> None:
        self.pid = pid
        self.token = token.encode()
        self._own = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
        self.seen: dict[int, psutil.Process] = {}
        self.sessions: set[int] = set()
        self.groups: set[int] = set()
        self.started = 0.0
        try:
            worker = psutil.Process(pid)
            self.started = worker.create_time()
        except psutil.Error:
            return
        self.seen[pid] = worker
        self._mark(pid)

    def _mark(self, pid: int) -> None:
        try:
            session, group = os.getsid(pid), os.getpgid(pid)
        except OSError:
            return
        # never this process's own session or group, whatever a child reports
        if session != os.getsid(0):
            self.sessions.add(session)
        if group != os.getpgid(0):
            self.groups.add(group)

    def refresh(self) -> None:
        """Add the worker's current descendants (and their sessions and groups)."""
        worker = self.seen.get(self.pid)
        if worker is None:
            return
        try:
            children = worker.children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            if child.pid not in self.seen and child.pid not in self._own:
                self.seen[child.pid] = child
                self._mark(child.pid)

    def rss_bytes(self) -> int:
        """Resident bytes of every live process seen in the tree (shared pages of forked
        children count once per process: an upper bound)."""
        total = 0
        for process in list(self.seen.values()):
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        return total

    def members(self) -> list[psutil.Process]:
        """Every live process of the run except the worker itself: seen as descendants, in
        one of their sessions or process groups, or carrying the run's token."""
        self.refresh()
        found = {pid: p for pid, p in self.seen.items() if pid != self.pid}
        for pid, session, group in _all_processes():
            if pid in found or pid == self.pid or pid in self._own:
                continue
            if session in self.sessions or group in self.groups or self._has_token(pid):
                try:
                    process = psutil.Process(pid)
                    # older than the worker: not its descendant, whatever its ids say
                    # (a group or session id can be a reused pid)
                    if process.create_time() < self.started - 1.0:
                        continue
                except psutil.Error:
                    continue
                found[pid] = process
        return [p for p in found.values() if _alive(p)]

    def _has_token(self, pid: int) -> bool:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return False
        return self.token in environ

    def kill_all(self, rounds: int = 3) -> int:
        """SIGKILL every member (a few rounds, for processes forked meanwhile) and wait for
        them; returns how many were killed. The worker itself is the caller's to reap."""
        killed: dict[int, psutil.Process] = {}
        for _ in range(rounds):
            members = [p for p in self.members() if p.pid not in killed]
            if not members:
                break
            for process in members:
                try:
                    process.kill()  # psutil checks the pid was not reused
                except psutil.Error:
                    continue
                killed[process.pid] = process
        _wait_dead(list(killed.values()), timeout_s=3.0)
        return len(killed)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait_dead(processes: list[psutil.Process], *, timeout_s: float) -> None:
    """Until each is gone or a zombie: dead, its memory and pipes released. (Waiting for
    it to be reaped would wait on its new parent, which may reap slowly.)"""
    end = time.monotonic() + timeout_s
    pending = processes
    while pending and time.monotonic() < end:
        pending = [p for p in pending if _alive(p)]
        if pending:
            time.sleep(0.01)


def _all_processes() -> list[tuple[int, int, int]]:
    """(pid, session, process group) of every process visible in /proc."""
    rows: list[tuple[int, int, int]] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return rows
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: fields follow the last ')'
        fields = text[text.rfind(")") + 2 :].split()
        try:
            rows.append((int(entry), int(fields[3]), int(fields[2])))
        except (IndexError, ValueError):
            continue
    return rows
