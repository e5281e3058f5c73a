"""probe's load generator against wrk: capacity at 1 and 4 server workers, accuracy, a stall.

Run from the repository root: `.venv/bin/python bench/probe/run.py` (about 3 minutes; needs
`wrk`, Debian: `apt-get install -y wrk`). Writes bench/probe/results.md.

Capacity is measured interleaved in the same run: for each server size, `--reps` pairs of
wrk and probe on the same endpoint (the order alternates), and the ratio is the median of
the per-pair ratios, so a change in the machine's load hits both tools alike. The load
average is printed before each pair: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
import uvloop

from infermedic.probe.loadgen import LoadRecorder, StepResult, closed_loop, open_loop
from infermedic.probe.rawclient import RawSender, build_request

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CONNECTIONS = 64
SHARED_SESSION = [False]  # --shared-session: the servers in the bench's session (the old way)
FAST_BODY = b'{"ok":true}'  # what `server.py`'s `/fast` answers


def same_request(url: str) -> tuple[bytes, list[str]]:
    """probe's request bytes for `GET url` and its header lines besides Host, which wrk is
    given with `-H`: both tools make the server parse the very same request."""
    _, _, request = build_request(url, "GET", None, {})
    lines = request.decode("latin-1").split("\r\n")[1:]
    return request, [line for line in lines if line and not line.lower().startswith("host:")]


def wrk_command(url: str, connections: int, seconds: float) -> list[str]:
    headers = [arg for line in same_request(url)[1] for arg in ("-H", line)]
    return ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", *headers, url]


def parse_wrk(out: str, cpu_s: float, seconds: float) -> dict[str, float]:
    """wrk's requests/s, latency percentiles and CPU (seconds per wall second, per request)."""
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def ms(label: str) -> float:
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        return float(found.group(1)) * units[found.group(2)] if found else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": ms("50%"),
        "p99": ms("99%"),
        "cpu": cpu_s / seconds,
        "cpu_us": cpu_s / int(total.group(1)) * 1e6 if total and int(total.group(1)) else 0.0,
    }


def wrk(url: str, connections: int, seconds: float) -> dict[str, float]:
    """wrk, closed loop, one thread, the same request as probe's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        wrk_command(url, connections, seconds),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    return parse_wrk(out, children_cpu(before), seconds)


def children_cpu(before: resource.struct_rusage) -> float:
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProbeRun:
    """probe's capacity step, its own CPU per request and the connections it opened."""

    step: StepResult
    cpu_us: float
    opened: int


async def probe_closed(url: str, concurrency: int, seconds: float) -> ProbeRun:
    cpu0 = time.process_time()
    async with RawSender(url, method="GET", connections=concurrency) as sender:
        step = await closed_loop(
            sender,
            concurrency=concurrency,
            window_s=1.0,
            max_duration_s=seconds,
            stable_windows=max(int(seconds) - 1, 1),  # all but the first (warm-up) second
            until_stable=False,
        )
        opened = sender.client.opened
    # CPU per request over the whole run, warm-up included: requests are counted from the
    # steady windows' rate over the whole elapsed time (an estimate, not a count).
    cpu_us = (time.process_time() - cpu0) / max(step.throughput * step.elapsed_s, 1) * 1e6
    return ProbeRun(step=step, cpu_us=cpu_us, opened=opened)


async def probe_open(url: str, rate: float, seconds: float) -> LoadRecorder:
    async with RawSender(url, method="GET", connections=CONNECTIONS) as sender:
        return await open_loop(sender, rate=rate, duration_s=seconds, max_in_flight=512)


async def floor(url: str, connections: int, seconds: float) -> float:
    """The floor of any Python generator on this host right now: a bare `asyncio.Protocol`
    client that counts complete `/fast` answers and writes the next request for each (no
    parser, no deadline, no bounds: unfit for a probe, kept here only as a yardstick). One
    request in flight per connection, as probe and wrk: writing on every `data_received`
    would pipeline a second request whenever head and body arrive apart."""
    parts = url.split("/", 3)
    host, port = parts[2].split(":")
    request = same_request(url)[0]
    count = 0

    class Bare(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.Transport, transport)
            self.transport.write(request)

        def data_received(self, data: bytes) -> None:
            nonlocal count
            done = data.count(FAST_BODY)  # `/fast` answers end with their fixed body
            count += done
            for _ in range(done):
                self.transport.write(request)

    loop = asyncio.get_running_loop()
    opened = [await loop.create_connection(Bare, host, int(port)) for _ in range(connections)]
    await asyncio.sleep(1.0)  # the same first second probe's closed loop leaves out
    start = count
    await asyncio.sleep(seconds - 1.0)
    for transport, _ in opened:
        transport.close()
    return (count - start) / (seconds - 1.0)


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Busy:
    """How a server spent one measurement: shares of its workers' wall time."""

    run: float  # on a CPU
    queued: float  # runnable, waiting for a CPU (the machine was busy)
    idle: float  # asleep: no request to serve (the generator left it waiting)
    cpu_us: float  # server CPU per request


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


def side_by_side(
    wrk_server: Server, probe_server: Server, seconds: float
) -> tuple[dict[str, float], ProbeRun, Busy, Busy]:
    """wrk and probe at the same time, each on its own twin server: the machine's load at
    that moment hits both alike."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_before, probe_before = snapshot(wrk_server), snapshot(probe_server)
    process = subprocess.Popen(
        wrk_command(wrk_server.url + "/fast", CONNECTIONS, seconds),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        p = uvloop.run(probe_closed(probe_server.url + "/fast", CONNECTIONS, seconds))
        out, _ = process.communicate(timeout=seconds + 30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    w = parse_wrk(out, children_cpu(before), seconds)
    # The twin that finished first idles while the other ends: measured up to here, both
    # include that tail, which is under a second in `seconds`.
    return (
        w,
        p,
        busy(wrk_server, wrk_before, w["rps"]),
        busy(probe_server, probe_before, p.step.throughput),
    )


def capacity(workers: int, reps: int, seconds: float) -> tuple[list[str], float, float]:
    """At `workers` uvicorn workers: `reps` interleaved wrk/probe pairs on one server, then
    `reps` side-by-side pairs on twin servers; (lines, median ratio of each)."""
    size = f"{workers} uvicorn worker{'s' if workers > 1 else ''}"
    what = f"GET /fast, closed loop, {CONNECTIONS} connections, {seconds:g} s each"
    lines = [
        f"## Capacity, {size}, one after the other ({what})",
        "",
        "| pair | load avg | wrk req/s | probe req/s | ratio | bare Python req/s | "
        "server idle wrk / probe | server CPU µs/req wrk / probe | generator CPU µs/req "
        "wrk / probe | probe loop lag ms | probe saturated | probe connections |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ratios: list[float] = []
    with uvicorn("bench.probe.server:app", workers) as server:
        url = server.url + "/fast"
        wrk(url, CONNECTIONS, 1)  # warm-up of the server, not counted
        for rep in range(reps):
            load = os.getloadavg()[0]
            runs: dict[str, tuple[Any, Busy]] = {}
            for tool in ("wrk", "probe") if rep % 2 == 0 else ("probe", "wrk"):
                before = snapshot(server)
                if tool == "wrk":
                    w = wrk(url, CONNECTIONS, seconds)
                    runs[tool] = (w, busy(server, before, w["rps"]))
                else:
                    p = uvloop.run(probe_closed(url, CONNECTIONS, seconds))
                    runs[tool] = (p, busy(server, before, p.step.throughput))
            w, wb = runs["wrk"]
            p, pb = runs["probe"]
            bare = uvloop.run(floor(url, CONNECTIONS, seconds))
            ratio = p.step.throughput / w["rps"] if w["rps"] else float("nan")
            ratios.append(ratio)
            lines.append(row(rep, load, w, p, ratio, wb, pb, f"{bare:.0f}"))
            print(lines[-1], flush=True)
    lines += [""]
    lines += [
        f"## Capacity, {size}, side by side on twin servers ({what})",
        "",
        "| pair | load avg | wrk req/s | probe req/s | ratio | wrk on | "
        "server idle wrk / probe | server CPU µs/req wrk / probe | generator CPU µs/req "
        "wrk / probe | probe loop lag ms | probe saturated | probe connections |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    twin: list[float] = []
    with (
        uvicorn("bench.probe.server:app", workers) as a,
        uvicorn("bench.probe.server:app", workers) as b,
    ):
        wrk(a.url + "/fast", CONNECTIONS, 1)
        wrk(b.url + "/fast", CONNECTIONS, 1)
        for rep in range(reps):
            load = os.getloadavg()[0]
            first, second = (a, b) if rep % 2 == 0 else (b, a)  # each tool on each twin
            w, p, wb, pb = side_by_side(first, second, seconds)
            ratio = p.step.throughput / w["rps"] if w["rps"] else float("nan")
            twin.append(ratio)
            lines.append(row(rep, load, w, p, ratio, wb, pb, "A" if rep % 2 == 0 else "B"))
            print(lines[-1], flush=True)
    median, twin_median = statistics.median(ratios), statistics.median(twin)
    lines += [
        "",
        f"Median ratio probe / wrk: **{median:.3f}** one after the other (per pair: "
        f"{', '.join(f'{r:.3f}' for r in ratios)}), **{twin_median:.3f}** side by side "
        f"(per pair: {', '.join(f'{r:.3f}' for r in twin)}); goal ≥ 0.95.",
        "",
    ]
    return lines, median, twin_median


def row(
    rep: int,
    load: float,
    w: dict[str, float],
    p: ProbeRun,
    ratio: float,
    wrk_busy: Busy,
    probe_busy: Busy,
    extra: str,
) -> str:
    gen = p.step.generator
    assert gen is not None
    order = "wrk first" if rep % 2 == 0 else "probe first"
    return (
        f"| {rep + 1} ({order}) | {load:.2f} | {w['rps']:.0f} | {p.step.throughput:.0f} | "
        f"{ratio:.3f} | {extra} | {wrk_busy.idle:.0%} / {probe_busy.idle:.0%} | "
        f"{wrk_busy.cpu_us:.0f} / {probe_busy.cpu_us:.0f} | {w['cpu_us']:.0f} / "
        f"{p.cpu_us:.0f} | {gen.loop_lag_mean_ms:.2f} | {gen.saturated} | {p.opened} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", default="1,4", help="server worker counts to compare")
    parser.add_argument("--capacity-only", action="store_true")
    parser.add_argument(
        "--shared-session",
        action="store_true",
        help="run the servers in the bench's own session, as before (to show what it costs)",
    )
    args = parser.parse_args()
    SHARED_SESSION[0] = args.shared_session

    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")
    lines = [
        "# probe load generator vs wrk",
        "",
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} CPUs shared with other work (load average "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} at start, 1/5/15 min), Python "
        f"{platform.python_version()}, uvloop. probe's load path is its own HTTP/1.1 client "
        "(`infermedic.probe.rawclient`, asyncio.Protocol on uvloop), one process; wrk 4.1 "
        "runs one thread (`-t1`) and sends probe's exact request (`-H`). Server, generator "
        "and wrk share the same cores; "
        + (
            "**the servers run in the bench's session** (`--shared-session`)."
            if args.shared_session
            else "each server runs in a session of its own (see `uvicorn()`)."
        ),
        "",
    ]
    summary: list[str] = []
    for workers in (int(w) for w in args.workers.split(",")):
        part, median, twin = capacity(workers, args.reps, args.seconds)
        lines += part
        summary.append(
            f"{workers} worker(s): {median:.3f} one after the other, {twin:.3f} side by side"
        )
    if not args.capacity_only:
        with uvicorn("bench.probe.server:app", 1) as target:
            slow = target.url + "/sleep"
            truth = wrk(slow, 1, 5)
            rec = uvloop.run(probe_open(slow, 200.0, 10.0))
            d50 = rec.latency.percentile_ms(50) - truth["p50"]
            d99 = rec.latency.percentile_ms(99) - truth["p99"]
            gen = rec.generator
            assert gen is not None
            lines += [
                "## Accuracy (GET /sleep: `await asyncio.sleep(0.020)`, one worker)",
                "",
                "| measurement | p50 ms | p99 ms |",
                "| --- | --- | --- |",
                f"| ground truth: wrk `-c1`, 5 s ({truth['rps']:.0f} req/s) | "
                f"{truth['p50']:.2f} | {truth['p99']:.2f} |",
                f"| probe open loop 200 req/s, 10 s, from intended send time | "
                f"{rec.latency.percentile_ms(50):.2f} | {rec.latency.percentile_ms(99):.2f} |",
                f"| probe, same run, from actual send | {rec.service.percentile_ms(50):.2f} | "
                f"{rec.service.percentile_ms(99):.2f} |",
                "",
                f"Δp50 {d50:+.2f} ms, Δp99 {d99:+.2f} ms (goal within 1 ms); late sends "
                f"{rec.late_fraction():.1%}, max send lag {rec.max_lag_s * 1e3:.1f} ms; "
                f"generator CPU {gen.cpu_fraction:.0%}, loop lag {gen.loop_lag_mean_ms:.2f} ms "
                f"mean; load average {os.getloadavg()[0]:.2f}.",
                "",
            ]
        with uvicorn("bench.probe.server:stall_app", 1) as target:
            fast = target.url + "/fast"
            time.sleep(0.5)
            rec = uvloop.run(probe_open(fast, 100.0, 20.0))
            closed = wrk(fast, 4, 20)
            lines += [
                "## A server that stalls 1 s every 10 s (GET /fast, 20 s)",
                "",
                "| tool | p50 ms | p99 ms | max ms |",
                "| --- | --- | --- | --- |",
                f"| probe open loop 100 req/s (CO-free) | {rec.latency.percentile_ms(50):.2f} | "
                f"{rec.latency.percentile_ms(99):.1f} | {rec.latency.max_ms():.1f} |",
                f"| wrk `-c4` closed loop | {closed['p50']:.2f} | {closed['p99']:.1f} | – |",
                "",
                "The open loop keeps sending during the stall, so every request due in that "
                "second waits for it, counted from its intended send time (about 5 % of "
                "requests: p99 and max ≈ the stall). wrk is closed loop: it sends 4 requests "
                "during the stall and then waits; what it prints above is after its own "
                "post-hoc correction at exit (`stats_correct`, wg/wrk#485), which back-fills "
                "samples from its mean interval.",
                "",
            ]
    lines.append(f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("median ratios:", "; ".join(summary))


if __name__ == "__main__":
    main()
