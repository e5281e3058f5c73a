"""The bench's plumbing: servers in their own sessions, wrk and probe measured the same way.

Both tools are counted alike: every answer that lands within the run's `seconds`, connection
set-up included (wrk cannot leave its warm-up out, so probe does not either), over that
time. `at_once` runs several tools at the same moment, each on its own server, so that the
machine's load at that moment hits all of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import uvloop

from infermedic.probe.loadgen import closed_loop, open_loop
from infermedic.probe.rawclient import RawSender, build_request

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CONNECTIONS = 64
SHARED_SESSION = [False]  # --shared-session: servers and wrk in the bench's session (the old way)


def same_request(url: str) -> list[str]:
    """probe's header lines for `GET url` besides Host, which wrk is given with `-H`: both
    tools make the server parse the very same request."""
    _, _, request = build_request(url, "GET", None, {})
    lines = request.decode("latin-1").split("\r\n")[1:]
    return [line for line in lines if line and not line.lower().startswith("host:")]


def wrk_command(url: str, connections: int, seconds: int) -> list[str]:
    headers = [arg for line in same_request(url) for arg in ("-H", line)]
    return ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *headers, url]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """One tool's part of a measurement: wrk (closed loop) or probe (closed loop, or open
    loop at `rate`), with `connections` in flight at most."""

    tool: str  # "wrk" or "probe"
    path: str = "/fast"
    connections: int = CONNECTIONS
    rate: float | None = None  # probe only: an open loop at this rate


@dataclasses.dataclass(frozen=True, kw_only=True)
class Busy:
    """How a server spent one measurement: shares of its workers' wall time."""

    run: float  # on a CPU
    queued: float  # runnable, waiting for a CPU (the machine was busy)
    idle: float  # asleep: no request to serve (the generator left it waiting)
    cpu_us: float  # server CPU per request


@dataclasses.dataclass(frozen=True, kw_only=True)
class Measured:
    """One tool's numbers from one measurement."""

    tool: str
    rps: float
    p50: float  # ms; probe's open loop: from the intended send time
    p99: float
    cpu_us: float  # the generator's own CPU per request
    server: Busy
    requests: int  # answers counted
    loop_lag_ms: float = float("nan")  # probe only
    saturated: bool | None = None  # probe only: it flagged itself as the bottleneck
    opened: int = 0  # probe only: connections it opened
    service_p50: float = float("nan")  # probe's open loop only: from the actual send
    service_p99: float = float("nan")
    late: float = float("nan")  # probe's open loop only: share of sends late by > 2 ms


def parse_wrk(out: str) -> tuple[float, float, float, int]:
    """wrk's requests/s, p50 and p99 (ms) and request count."""
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def ms(label: str) -> float:
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        return float(found.group(1)) * units[found.group(2)] if found else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    return (
        float(rps.group(1)) if rps else 0.0,
        ms("50%"),
        ms("99%"),
        int(total.group(1)) if total else 0,
    )


def finish_wrk(
    process: subprocess.Popen[str], seconds: int
) -> tuple[float, float, float, float, int]:
    """Wait for a running wrk; (req/s, p50, p99, CPU µs per request, requests), its CPU from
    its own rusage (`wait4`: Popen keeps none), so several wrk at once are told apart."""
    assert process.stdout is not None
    deadline = time.monotonic() + seconds + 30
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)  # Popen waits no more
            break
        if time.monotonic() > deadline:
            process.kill()
            deadline = float("inf")
        time.sleep(0.01)
    rps, p50, p99, count = parse_wrk(process.stdout.read())
    cpu = usage.ru_utime + usage.ru_stime
    return rps, p50, p99, cpu / count * 1e6 if count else float("nan"), count


def start_wrk(url: str, connections: int, seconds: int) -> subprocess.Popen[str]:
    """wrk in a session of its own, as probe has the bench's: side by side, two generators
    in one session would share one CPU share (autogroup), and the one that needs more CPU
    per request (probe, in Python) would be starved by the other on a busy machine."""
    return subprocess.Popen(
        wrk_command(url, connections, seconds),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=not SHARED_SESSION[0],
    )


async def run_probe(url: str, job: Job, seconds: int) -> dict[str, float]:
    """probe on `url` for `seconds`: its closed loop counted as wrk counts (every answer in
    the whole time, connection set-up included), or its open loop at `job.rate`."""
    async with RawSender(url, method="GET", connections=job.connections) as sender:
        if job.rate is None:
            step = await closed_loop(
                sender,
                concurrency=job.connections,
                window_s=float(seconds),  # one window: the whole run
                max_duration_s=float(seconds),
                stable_windows=1,
                until_stable=False,
            )
            gen, requests = step.generator, step.requests
            numbers = {"rps": step.throughput, "p50": step.p50_ms, "p99": step.p99_ms}
        else:
            rec = await open_loop(
                sender, rate=job.rate, duration_s=float(seconds), max_in_flight=512
            )
            gen, requests = rec.generator, rec.requests
            numbers = {
                "rps": rec.throughput(),
                "p50": rec.latency.percentile_ms(50),
                "p99": rec.latency.percentile_ms(99),
                "service_p50": rec.service.percentile_ms(50),
                "service_p99": rec.service.percentile_ms(99),
                "late": rec.late_fraction(),
            }
        opened = sender.client.opened
    assert gen is not None
    return {
        **numbers,
        # CPU while the load ran (the monitor's share of a core), not the summing-up after
        "cpu_us": gen.cpu_fraction * seconds / max(requests, 1) * 1e6,
        "loop_lag_ms": gen.loop_lag_mean_ms,
        "saturated": float(gen.saturated),
        "opened": float(opened),
        "requests": float(requests),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclasses.dataclass(frozen=True, kw_only=True)
class Server:
    """A running uvicorn: its URL and the processes that serve requests."""

    url: str
    pids: list[int]

    def sched(self) -> tuple[float, float]:
        """Seconds on a CPU and seconds runnable but waiting for one, over all serving
        threads (`/proc/PID/task/*/schedstat`): the rest of the wall time it slept, waiting
        for requests."""
        run = wait = 0
        for pid in self.pids:
            for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
                on_cpu, waiting, _ = path.read_text().split()
                run += int(on_cpu)
                wait += int(waiting)
        return run / 1e9, wait / 1e9


Snapshot = tuple[float, float, float]  # server CPU s, server runnable-wait s, wall clock


def snapshot(server: Server) -> Snapshot:
    return (*server.sched(), time.perf_counter())


def busy(server: Server, before: Snapshot, rps: float) -> Busy:
    """How `server` spent the time since `before`, and its CPU per request at `rps`."""
    run1, wait1, t1 = snapshot(server)
    wall = (t1 - before[2]) * len(server.pids)
    run, queued = (run1 - before[0]) / wall, (wait1 - before[1]) / wall
    return Busy(
        run=run,
        queued=queued,
        idle=max(1.0 - run - queued, 0.0),
        cpu_us=(run1 - before[0]) / ((t1 - before[2]) * rps) * 1e6 if rps else float("nan"),
    )


def at_once(jobs: list[tuple[Job, Server]], seconds: int) -> list[Measured]:
    """Every job at the same moment, each on its own server (at most one probe: it runs in
    this process). The wrk processes start first; probe starts right after them."""
    before = [snapshot(server) for _, server in jobs]
    started = {
        i: start_wrk(server.url + job.path, job.connections, seconds)
        for i, (job, server) in enumerate(jobs)
        if job.tool == "wrk"
    }
    probes = [i for i, (job, _) in enumerate(jobs) if job.tool == "probe"]
    assert len(probes) <= 1, "probe runs in this process: one at a time"
    try:
        probed: dict[int, dict[str, float]] = {}
        for i in probes:
            job, server = jobs[i]
            probed[i] = uvloop.run(run_probe(server.url + job.path, job, seconds))
        waited = {i: finish_wrk(process, seconds) for i, process in started.items()}
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    out: list[Measured] = []
    for i, (_, server) in enumerate(jobs):
        if i in waited:
            rps, p50, p99, cpu_us, count = waited[i]
            out.append(
                Measured(
                    tool="wrk",
                    rps=rps,
                    p50=p50,
                    p99=p99,
                    cpu_us=cpu_us,
                    server=busy(server, before[i], rps),
                    requests=count,
                )
            )
            continue
        p = probed[i]
        out.append(
            Measured(
                tool="probe",
                rps=p["rps"],
                p50=p["p50"],
                p99=p["p99"],
                cpu_us=p["cpu_us"],
                server=busy(server, before[i], p["rps"]),
                requests=int(p["requests"]),
                loop_lag_ms=p["loop_lag_ms"],
                saturated=bool(p["saturated"]),
                opened=int(p["opened"]),
                service_p50=p.get("service_p50", float("nan")),
                service_p99=p.get("service_p99", float("nan")),
                late=p.get("late", float("nan")),
            )
        )
    return out


@contextlib.contextmanager
def uvicorn(app: str, workers: int) -> Iterator[Server]:
    """`uvicorn APP --workers N` on 127.0.0.1 (the CLI's own multi-process mode)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"},
        # A session of its own, as a real service has: with autogrouping (Linux's default,
        # `kernel.sched_autogroup_enabled`), a busy machine's CPU is shared per session
        # first, so a server in the bench's session would be paid from the same share as
        # the generator driving it, and every microsecond a generator spends per request
        # would come off the server's throughput.
        start_new_session=not SHARED_SESSION[0],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/fast", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.1)
        time.sleep(1.0 if workers > 1 else 0.2)  # every worker process up and importing done
        # One worker serves in uvicorn's own process; several in its spawned children (not
        # in multiprocessing's resource tracker, which idles).
        children = psutil.Process(process.pid).children(recursive=True)
        spawned = [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]
        pids = spawned if workers > 1 else [process.pid]
        yield Server(url=url, pids=pids)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
