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
from typing import cast

import httpx
import uvloop

from infermedic.probe.loadgen import LoadRecorder, StepResult, closed_loop, open_loop
from infermedic.probe.rawclient import RawSender

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CONNECTIONS = 64


def wrk(url: str, connections: int, seconds: float) -> dict[str, float]:
    """wrk's requests/s, latency percentiles and CPU seconds (closed loop, one thread)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def ms(label: str) -> float:
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        return float(found.group(1)) * units[found.group(2)] if found else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": ms("50%"),
        "p99": ms("99%"),
        "cpu": cpu / seconds,
    }


async def probe_closed(url: str, concurrency: int, seconds: float) -> StepResult:
    async with RawSender(url, method="GET", connections=concurrency) as sender:
        return await closed_loop(
            sender,
            concurrency=concurrency,
            window_s=1.0,
            max_duration_s=seconds,
            stable_windows=max(int(seconds) - 1, 1),  # all but the first (warm-up) second
            until_stable=False,
        )


async def probe_open(url: str, rate: float, seconds: float) -> LoadRecorder:
    async with RawSender(url, method="GET", connections=CONNECTIONS) as sender:
        return await open_loop(sender, rate=rate, duration_s=seconds, max_in_flight=512)


async def floor(url: str, connections: int, seconds: float) -> float:
    """The floor of any Python generator on this host right now: a bare `asyncio.Protocol`
    client that counts status lines and writes the next request at once (no parser, no
    deadline, no bounds: unfit for a probe, kept here only as a yardstick)."""
    parts = url.split("/", 3)
    host, port = parts[2].split(":")
    request = f"GET /{parts[3]} HTTP/1.1\r\nHost: {parts[2]}\r\n\r\n".encode()
    count = 0

    class Bare(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.Transport, transport)
            self.transport.write(request)

        def data_received(self, data: bytes) -> None:
            nonlocal count
            count += data.count(b"HTTP/1.1 ")
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


@contextlib.contextmanager
def uvicorn(app: str, workers: int) -> Iterator[str]:
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
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def capacity(workers: int, reps: int, seconds: float) -> tuple[list[str], float]:
    """Interleaved wrk/probe pairs against `workers` uvicorn workers; (lines, median ratio)."""
    lines = [
        f"## Capacity, {workers} uvicorn worker{'s' if workers > 1 else ''} "
        f"(GET /fast, closed loop, {CONNECTIONS} connections, {seconds:g} s each)",
        "",
        "| pair | load avg | wrk req/s | probe req/s | ratio | bare Python req/s | "
        "bare / wrk | wrk CPU | probe CPU | probe loop lag ms | probe saturated |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ratios: list[float] = []
    with uvicorn("bench.probe.server:app", workers) as base:
        url = base + "/fast"
        wrk(url, CONNECTIONS, 1)  # warm-up of the server, not counted
        for rep in range(reps):
            load = os.getloadavg()[0]
            if rep % 2 == 0:
                w = wrk(url, CONNECTIONS, seconds)
                p = uvloop.run(probe_closed(url, CONNECTIONS, seconds))
            else:
                p = uvloop.run(probe_closed(url, CONNECTIONS, seconds))
                w = wrk(url, CONNECTIONS, seconds)
            bare = uvloop.run(floor(url, CONNECTIONS, seconds))
            ratio = p.throughput / w["rps"] if w["rps"] else float("nan")
            ratios.append(ratio)
            gen = p.generator
            assert gen is not None
            lines.append(
                f"| {rep + 1} ({'wrk first' if rep % 2 == 0 else 'probe first'}) | {load:.2f} | "
                f"{w['rps']:.0f} | {p.throughput:.0f} | {ratio:.3f} | {bare:.0f} | "
                f"{bare / w['rps'] if w['rps'] else float('nan'):.3f} | {w['cpu']:.0%} | "
                f"{gen.cpu_fraction:.0%} | {gen.loop_lag_mean_ms:.2f} | {gen.saturated} |"
            )
            print(lines[-1], flush=True)
    median = statistics.median(ratios)
    lines += [
        "",
        f"Median ratio probe / wrk: **{median:.3f}** (goal ≥ 0.95; per pair: "
        f"{', '.join(f'{r:.3f}' for r in ratios)}). CPU is each tool's own CPU time over the "
        "wall time (100 % = one core). *Bare Python* is a yardstick run after each pair: a "
        "minimal `asyncio.Protocol` client without parser, deadlines or bounds, the floor "
        "of any Python generator on this host at that moment.",
        "",
    ]
    return lines, median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", default="1,4", help="server worker counts to compare")
    parser.add_argument("--capacity-only", action="store_true")
    args = parser.parse_args()
    # The test helper that runs uvicorn in a subprocess, and this bench's server module, both
    # import from the repository root.
    sys.path.insert(0, str(ROOT))
    from tests.probe.servers import serve

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
        "runs one thread (`-t1`). Server, generator and wrk share the same cores.",
        "",
    ]
    summary: list[str] = []
    for workers in (int(w) for w in args.workers.split(",")):
        part, median = capacity(workers, args.reps, args.seconds)
        lines += part
        summary.append(f"{workers} worker(s): {median:.3f}")
    if not args.capacity_only:
        with serve("bench.probe.server:app", ready_path="/fast") as target:
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
        with serve("bench.probe.server:stall_app", ready_path="/fast") as target:
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
