"""probe's load generator against wrk: capacity at 1 and 4 server workers, accuracy, a stall.

Run from the repository root: `.venv/bin/python bench/probe/run.py` (about 7 minutes; needs
`wrk`, Debian: `apt-get install -y wrk`). Writes bench/probe/results.md.

On a shared machine the server's own speed swings from one second to the next, so a ratio
is only worth what its pairing makes it. Each capacity pair is measured in two designs:

- *side by side, crossed over*: twin servers A and B; wrk on A and probe on B at the same
  moment, then swapped (wrk on B, probe on A). The pair's ratio is the geometric mean of the
  two phases' ratios, so a twin that is faster than the other cancels out;
- *one after the other, ABBA*: one server; wrk, probe, probe, wrk. The pair's ratio is
  probe's requests over wrk's, so a load that rises or falls steadily cancels out.

Each pair is followed by the same design with wrk in both places (an A/A control): its
spread is what the design itself cannot tell apart, measured under the same load.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

# `python bench/probe/run.py` puts bench/probe first on the path; the package's root too.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.probe.tools import (  # noqa: E402
    CONNECTIONS,
    HERE,
    SHARED_SESSION,
    Job,
    Measured,
    Server,
    at_once,
    uvicorn,
)

WRK, PROBE = Job(tool="wrk"), Job(tool="probe")


def crossed(a: Server, b: Server, x: Job, y: Job, seconds: int) -> tuple[float, list[Measured]]:
    """`x` on A and `y` on B at once, then swapped: y / x, the geometric mean of the two."""
    x1, y1 = at_once([(x, a), (y, b)], seconds)
    x2, y2 = at_once([(x, b), (y, a)], seconds)
    ratio = math.sqrt((y1.rps / x1.rps) * (y2.rps / x2.rps)) if x1.rps and x2.rps else math.nan
    return ratio, [x1, y1, x2, y2]


def abba(server: Server, x: Job, y: Job, seconds: int) -> tuple[float, list[Measured]]:
    """`x`, `y`, `y`, `x` on one server, one after the other: y's requests over x's."""
    x1, y1, y2, x2 = (at_once([(job, server)], seconds)[0] for job in (x, y, y, x))
    total = x1.rps + x2.rps
    return (y1.rps + y2.rps) / total if total else math.nan, [x1, y1, y2, x2]


def pair_row(rep: int, load: float, ratio: float, control: float, runs: list[Measured]) -> str:
    wrk = [m for m in runs if m.tool == "wrk"]
    probe = [m for m in runs if m.tool == "probe"]

    def each(values: list[float], fmt: str) -> str:
        return " / ".join(format(v, fmt) for v in values)

    return (
        f"| {rep + 1} | {load:.2f} | {each([m.rps for m in wrk], '.0f')} | "
        f"{each([m.rps for m in probe], '.0f')} | **{ratio:.3f}** | {control:.3f} | "
        f"{each([m.server.idle * 100 for m in wrk], '.0f')} / "
        f"{each([m.server.idle * 100 for m in probe], '.0f')} | "
        f"{statistics.mean(m.server.cpu_us for m in wrk):.0f} / "
        f"{statistics.mean(m.server.cpu_us for m in probe):.0f} | "
        f"{statistics.mean(m.cpu_us for m in wrk):.0f} / "
        f"{statistics.mean(m.cpu_us for m in probe):.0f} | "
        f"{max(m.loop_lag_ms for m in probe):.2f} | "
        f"{any(m.saturated for m in probe)} | {each([m.opened for m in probe], 'd')} |"
    )


HEADER = [
    "| pair | load avg | wrk req/s | probe req/s | ratio | A/A control (wrk / wrk) | "
    "server idle % wrk / probe | server CPU µs/req wrk / probe | generator CPU µs/req "
    "wrk / probe | probe loop lag ms (max) | probe saturated | probe connections |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
]


def summary(name: str, ratios: list[float], controls: list[float]) -> str:
    below = sum(r < 0.95 for r in ratios)
    return (
        f"{name}: median **{statistics.median(ratios):.3f}**, worst pair **{min(ratios):.3f}**"
        f" (pairs: {', '.join(f'{r:.3f}' for r in ratios)}; {below} of {len(ratios)} below "
        f"0.95); A/A control wrk / wrk {min(controls):.3f}–{max(controls):.3f} "
        f"(median {statistics.median(controls):.3f})."
    )


def capacity(workers: int, reps: int, seconds: int) -> tuple[list[str], list[str]]:
    """At `workers` uvicorn workers: `reps` crossed-over pairs on twin servers, then `reps`
    ABBA pairs on one; each followed by its wrk / wrk control. (lines, summaries)."""
    size = f"{workers} uvicorn worker{'s' if workers > 1 else ''}"
    what = f"GET /fast, closed loop, {CONNECTIONS} connections, {seconds} s per run"
    lines: list[str] = []
    sums: list[str] = []
    with (
        uvicorn("bench.probe.server:app", workers) as a,
        uvicorn("bench.probe.server:app", workers) as b,
    ):
        at_once([(WRK, a), (WRK, b)], 1)  # warm-up of both servers, not counted
        for design in ("side by side, crossed over", "one after the other, ABBA"):
            lines += [f"## Capacity, {size}, {design} ({what})", "", *HEADER]
            ratios: list[float] = []
            controls: list[float] = []
            for rep in range(reps):
                load = os.getloadavg()[0]
                if design.startswith("side"):
                    ratio, runs = crossed(a, b, WRK, PROBE, seconds)
                    control, _ = crossed(b, a, WRK, WRK, seconds)
                else:
                    server = a if rep % 2 == 0 else b
                    ratio, runs = abba(server, WRK, PROBE, seconds)
                    control, _ = abba(server, WRK, WRK, seconds)
                ratios.append(ratio)
                controls.append(control)
                lines.append(pair_row(rep, load, ratio, control, runs))
                print(lines[-1], flush=True)
            sums.append(summary(f"{size}, {design}", ratios, controls))
            lines += ["", sums[-1], ""]
    return lines, sums


def accuracy(seconds: int) -> list[str]:
    """Latency against wrk `-c1` on a 20 ms endpoint, side by side and crossed over: probe
    with the same load shape (closed loop, one connection), then probe's open loop at half
    the rate wrk reached (latency from each request's intended send time). At wrk's own rate
    a fixed schedule would send the next request before half the answers are back (its
    interval is the median latency): two in flight, a load the truth never had."""
    lines = [
        "## Accuracy (GET /sleep: `await asyncio.sleep(0.020)`, one worker, twin servers, "
        f"side by side and crossed over, {seconds} s per phase)",
        "",
        "| probe mode | load avg | wrk `-c1` p50 / p99 ms (phase 1, 2) | probe p50 / p99 ms "
        "(phase 1, 2) | Δp50 ms | Δp99 ms | probe from actual send p50 / p99 ms | "
        "late sends | probe loop lag ms | samples wrk / probe |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    with (
        uvicorn("bench.probe.server:app", 1) as a,
        uvicorn("bench.probe.server:app", 1) as b,
    ):
        truth = Job(tool="wrk", path="/sleep", connections=1)
        at_once([(truth, a), (truth, b)], 1)
        closed = Job(tool="probe", path="/sleep", connections=1)
        load = os.getloadavg()[0]
        _, runs = crossed(a, b, truth, closed, seconds)
        lines.append(accuracy_row("closed loop, 1 connection (same shape)", load, runs))
        rate = statistics.mean(m.rps for m in runs if m.tool == "wrk") / 2
        opened = Job(tool="probe", path="/sleep", connections=CONNECTIONS, rate=round(rate))
        load = os.getloadavg()[0]
        _, runs = crossed(a, b, truth, opened, seconds)
        lines.append(accuracy_row(f"open loop at {rate:.0f} req/s (half wrk's rate)", load, runs))
    return [
        *lines,
        "",
        "Δ is probe's minus wrk's, the mean of the two phases (each phase: both tools at once "
        "on twin servers). The open loop counts from the intended send time, so a send the "
        "busy machine made late is latency too (wrk2's rule); the actual-send column leaves "
        "that lag out. A p99 of a few hundred samples is the second or third worst request: "
        "read the open loop's as a bound.",
        "",
    ]


def accuracy_row(mode: str, load: float, runs: list[Measured]) -> str:
    wrk = [m for m in runs if m.tool == "wrk"]
    probe = [m for m in runs if m.tool == "probe"]
    d50 = statistics.mean(p.p50 - w.p50 for w, p in zip(wrk, probe, strict=True))
    d99 = statistics.mean(p.p99 - w.p99 for w, p in zip(wrk, probe, strict=True))
    service = (
        ", ".join(f"{p.service_p50:.2f} / {p.service_p99:.2f}" for p in probe)
        if not math.isnan(probe[0].service_p50)
        else "–"
    )
    late = ", ".join(f"{p.late:.1%}" for p in probe) if not math.isnan(probe[0].late) else "–"
    return (
        f"| {mode} | {load:.2f} | {', '.join(f'{w.p50:.2f} / {w.p99:.2f}' for w in wrk)} | "
        f"{', '.join(f'{p.p50:.2f} / {p.p99:.2f}' for p in probe)} | {d50:+.2f} | "
        f"{d99:+.2f} | {service} | {late} | "
        f"{', '.join(f'{p.loop_lag_ms:.2f}' for p in probe)} | "
        f"{sum(w.requests for w in wrk)} / {sum(p.requests for p in probe)} |"
    )


def stall() -> list[str]:
    with uvicorn("bench.probe.server:stall_app", 1) as target:
        time.sleep(0.5)
        [probe] = at_once([(Job(tool="probe", rate=100.0), target)], 20)
        [closed] = at_once([(Job(tool="wrk", connections=4), target)], 20)
    return [
        "## A server that stalls 1 s every 10 s (GET /fast, 20 s)",
        "",
        "| tool | p50 ms | p99 ms |",
        "| --- | --- | --- |",
        f"| probe open loop 100 req/s (CO-free) | {probe.p50:.2f} | {probe.p99:.1f} |",
        f"| wrk `-c4` closed loop | {closed.p50:.2f} | {closed.p99:.1f} |",
        "",
        "The open loop keeps sending during the stall, so every request due in that second "
        "waits for it, counted from its intended send time (about 5 % of requests: p99 ≈ the "
        "stall). wrk is closed loop: it sends 4 requests during the stall and then waits; what "
        "it prints above is after its own post-hoc correction at exit (`stats_correct`, "
        "wg/wrk#485), which back-fills samples from its mean interval.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3, help="seconds per run (wrk: whole)")
    parser.add_argument("--workers", default="1,4", help="server worker counts to compare")
    parser.add_argument("--capacity-only", action="store_true")
    parser.add_argument(
        "--shared-session",
        action="store_true",
        help="run the servers and wrk in the bench's own session, as before (what it costs)",
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
        "runs one thread (`-t1`) and sends probe's exact request (`-H`). Both count every "
        "answer in the whole run, connection set-up included. Server, generator and wrk "
        "share the same cores; "
        + (
            "**the servers run in the bench's session** (`--shared-session`)."
            if args.shared_session
            else "each server and each wrk runs in a session of its own (see `tools.py`), "
            "probe in the bench's."
        ),
        "",
        "Ratio: probe / wrk per pair (goal ≥ 0.95). A/A control: the same design with wrk in "
        "both places, run right after the pair: how far apart the design puts one tool and "
        "itself at this load.",
        "",
    ]
    sums: list[str] = []
    for workers in (int(w) for w in args.workers.split(",")):
        part, found = capacity(workers, args.reps, args.seconds)
        lines += part
        sums += found
    if not args.capacity_only:
        lines += accuracy(5)
        lines += stall()
    lines += [
        "## Summary",
        "",
        *(f"- {s}" for s in sums),
        "",
        f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}.",
    ]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
