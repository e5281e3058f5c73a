"""Benchmark: `infermedic audit` against bandit on the installed scikit-learn, pandas and
FastAPI sources, both run as their command-line tools (start-up included).

Usage: `.venv/bin/python bench/audit/run.py [--repeat N]`; writes bench/audit/results.md.

Method. The machine is shared, so the two tools run interleaved in pairs (the order
alternates from one pair to the next) and each pair gives a ratio, infermedic's wall time
over bandit's; the headline is the median of the per-pair ratios, so a change in the
machine's load during the run hits both tools alike. Each run's CPU time (user + system,
from the kernel's accounting of the child process) is reported beside its wall time: on a
loaded machine it moves much less than the wall time, and its ratio says whether a wall
ratio is the load's doing. The 1-minute load average is printed before each run and at the
end. Both tools write JSON to a scratch folder; the finding counts are printed, not compared
(the rule sets differ).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ("sklearn", "pandas", "fastapi")


@dataclass(frozen=True, kw_only=True)
class Timing:
    wall_s: float
    cpu_s: float
    load: float  # 1-minute load average when the run started


def package_paths() -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    paths = [site / name for name in PACKAGES]
    missing = [p for p in paths if not p.is_dir()]
    if missing:
        sys.exit(f"missing packages: {', '.join(map(str, missing))}")
    return paths


def timed(command: list[str]) -> Timing:
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode not in (0, 1):
        sys.exit(
            f"{command[0]} failed ({completed.returncode}): {completed.stderr.decode()[-800:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall_s=elapsed, cpu_s=cpu, load=load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs (median reported)")
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    infermedic = str(bindir / "infermedic")
    bandit = shutil.which("bandit", path=str(bindir)) or sys.exit("pip install bandit first")
    paths = package_paths()
    n_files = sum(1 for p in paths for _ in p.rglob("*.py"))
    n_lines = sum(f.read_bytes().count(b"\n") for p in paths for f in p.rglob("*.py"))
    load_start = os.getloadavg()
    started = datetime.datetime.now(datetime.UTC)
    with tempfile.TemporaryDirectory() as scratch:
        ours_json = Path(scratch) / "infermedic.json"
        theirs_json = Path(scratch) / "bandit.json"
        ours_cmd = [
            infermedic,
            "audit",
            *map(str, paths),
            "--format",
            "json",
            "--output",
            str(ours_json),
            "--exit-zero",
        ]
        theirs_cmd = [
            bandit,
            "-r",
            *map(str, paths),
            "-f",
            "json",
            "-o",
            str(theirs_json),
            "-q",
            "--exit-zero",
        ]
        pairs: list[tuple[Timing, Timing]] = []
        for index in range(args.repeat):  # interleaved, alternating, so load hits both alike
            if index % 2 == 0:
                ours = timed(ours_cmd)
                theirs = timed(theirs_cmd)
            else:
                theirs = timed(theirs_cmd)
                ours = timed(ours_cmd)
            pairs.append((ours, theirs))
            print(
                f"pair {index + 1}: infermedic {ours.wall_s:.1f} s (cpu {ours.cpu_s:.1f} s, "
                f"load {ours.load:.1f}), bandit {theirs.wall_s:.1f} s (cpu {theirs.cpu_s:.1f} s, "
                f"load {theirs.load:.1f}), ratio {ours.wall_s / theirs.wall_s:.2f}",
                flush=True,
            )
        ours_report = json.loads(ours_json.read_text(encoding="utf-8"))
        theirs_report = json.loads(theirs_json.read_text(encoding="utf-8"))
    load_end = os.getloadavg()
    wall_ratios = [o.wall_s / t.wall_s for o, t in pairs]
    cpu_ratios = [o.cpu_s / t.cpu_s for o, t in pairs]
    ratio = statistics.median(wall_ratios)
    cpu_ratio = statistics.median(cpu_ratios)
    bandit_version = subprocess.run(
        [bandit, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    loads = [t.load for pair in pairs for t in pair]
    lines = [
        "# Audit benchmark results",
        "",
        f"Run started {started:%Y-%m-%d %H:%M} UTC. Tree: installed "
        f"{', '.join(PACKAGES)} sources — {n_files:,} Python files, {n_lines:,} lines. Both "
        f"tools run as CLIs (start-up included), interleaved in {args.repeat} pairs (order "
        "alternating); the ratio is the median of the per-pair ratios.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs shared with other work, Python "
        f"{platform.python_version()}; 1-minute load average {load_start[0]:.1f} at the start, "
        f"{min(loads):.1f}–{max(loads):.1f} at the runs' starts, {load_end[0]:.1f} at the end.",
        "",
        "| pair | infermedic wall (s) | CPU (s) | load | bandit wall (s) | CPU (s) | load "
        "| wall ratio | CPU ratio |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {i} | {o.wall_s:.1f} | {o.cpu_s:.1f} | {o.load:.1f} | {t.wall_s:.1f} "
            f"| {t.cpu_s:.1f} | {t.load:.1f} | {o.wall_s / t.wall_s:.2f} "
            f"| {o.cpu_s / t.cpu_s:.2f} |"
            for i, (o, t) in enumerate(pairs, start=1)
        ],
        "",
        f"Findings: infermedic {len(ours_report['findings'])} (notifications "
        f"{ours_report['summary']['notifications']}); {bandit_version} "
        f"{len(theirs_report['results'])} (errors {len(theirs_report.get('errors', []))}).",
        "",
        f"**Ratio infermedic / bandit, wall time: {ratio:.2f}** (pairs "
        f"{min(wall_ratios):.2f}–{max(wall_ratios):.2f}); CPU time: {cpu_ratio:.2f} (pairs "
        f"{min(cpu_ratios):.2f}–{max(cpu_ratios):.2f}). Goal ≤ 0.5 (issue 19).",
        "",
        "The rule sets differ (bandit: security checks; infermedic: serving, monitoring and",
        "explainability rules plus the Dockerfile/Kubernetes/dependency rules, with a",
        "project-wide call graph), so this compares the cost of a full run on the same tree,",
        "not the findings.",
        "",
    ]
    (HERE / "results.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
