"""probe's load generator against wrk: capacity, accuracy at 200 req/s, and a periodic stall.

Run from the repository root: `.venv/bin/python bench/probe/run.py` (about 90 s; needs
`wrk`, Debian: `apt-get install -y wrk`). Writes bench/probe/results.md.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import uvloop

from infermedic.probe.loadgen import AiohttpSender, LoadRecorder, StepResult, closed_loop, open_loop

HERE = Path(__file__).parent


def wrk(url: str, connections: int, seconds: int) -> dict[str, float]:
    """wrk's requests/s and latency percentiles (closed loop)."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def ms(label: str) -> float:
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        return float(found.group(1)) * units[found.group(2)] if found else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50": ms("50%"), "p99": ms("99%")}


async def probe_closed(url: str, concurrency: int, seconds: float) -> StepResult:
    async with AiohttpSender(url, method="GET", connections=concurrency) as sender:
        return await closed_loop(
            sender,
            concurrency=concurrency,
            window_s=1.0,
            max_duration_s=seconds,
            until_stable=False,
        )


async def probe_open(url: str, rate: float, seconds: float) -> LoadRecorder:
    async with AiohttpSender(url, method="GET") as sender:
        return await open_loop(sender, rate=rate, duration_s=seconds, max_in_flight=512)


def main() -> None:
    # The test helper that runs uvicorn in a subprocess, and this bench's server module, both
    # import from the repository root.
    sys.path.insert(0, str(HERE.parents[1]))
    from tests.probe.servers import serve

    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")
    lines = [
        "# probe load generator vs wrk",
        "",
        f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} CPUs shared with other work (load average "
        f"{os.getloadavg()[0]:.1f} at start), Python {platform.python_version()}, uvloop. "
        "One uvicorn worker (FastAPI) is the target in every row. The machine is shared: a "
        "high load average makes every tool slower and noisier, probe included (its "
        "self-check reports the late sends).",
        "",
    ]
    with serve("bench.probe.server:app", ready_path="/fast") as target:
        fast, slow = target.url + "/fast", target.url + "/sleep"
        # 1. capacity: the same endpoint, closed loop, 64 connections, 5 s each
        w = wrk(fast, 64, 5)
        p = uvloop.run(probe_closed(fast, 64, 5.0))
        lines += [
            "## Capacity (GET /fast, closed loop, 64 connections, 5 s)",
            "",
            "| tool | req/s | p50 ms | p99 ms |",
            "| --- | --- | --- | --- |",
            f"| wrk 4.1 (`-t1 -c64`) | {w['rps']:.0f} | {w['p50']:.2f} | {w['p99']:.2f} |",
            f"| probe (aiohttp + uvloop, 1 process) | {p.throughput:.0f} | {p.p50_ms:.2f} | "
            f"{p.p99_ms:.2f} |",
            "",
            f"Ratio probe / wrk: **{p.throughput / w['rps']:.2f}** (goal ≥ 0.9).",
            "",
        ]
        # 2. accuracy: ground truth = one connection, closed loop; then 200 req/s open loop
        truth = wrk(slow, 1, 5)
        rec = uvloop.run(probe_open(slow, 200.0, 10.0))
        d50 = rec.latency.percentile_ms(50) - truth["p50"]
        d99 = rec.latency.percentile_ms(99) - truth["p99"]
        lines += [
            "## Accuracy (GET /sleep: `await asyncio.sleep(0.020)`)",
            "",
            "| measurement | p50 ms | p99 ms |",
            "| --- | --- | --- |",
            f"| ground truth: wrk `-c1`, 5 s ({truth['rps']:.0f} req/s) | {truth['p50']:.2f} | "
            f"{truth['p99']:.2f} |",
            f"| probe open loop 200 req/s, 10 s, from intended send time | "
            f"{rec.latency.percentile_ms(50):.2f} | {rec.latency.percentile_ms(99):.2f} |",
            f"| probe, same run, from actual send | {rec.service.percentile_ms(50):.2f} | "
            f"{rec.service.percentile_ms(99):.2f} |",
            "",
            f"Δp50 {d50:+.2f} ms, Δp99 {d99:+.2f} ms (goal within 1 ms); late sends "
            f"{rec.late_fraction():.1%}, max send lag {rec.max_lag_s * 1e3:.1f} ms.",
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
            "The open loop keeps sending during the stall, so every request due in that second "
            "waits for it, counted from its intended send time (about 5 % of requests: p99 and "
            "max ≈ the stall). wrk is closed loop: it sends 4 requests during the stall and "
            "then waits; what it prints above is after its own post-hoc correction at exit "
            "(`stats_correct`, wg/wrk#485), which back-fills samples from its mean interval. "
            "A closed-loop tool without such a correction (hey, ab, Locust) reports only the "
            "handful of stalled samples.",
            "",
        ]
    (HERE / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
