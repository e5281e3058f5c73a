"""Benchmark: `infermedic audit` against bandit on the installed scikit-learn, pandas and
FastAPI sources, both run as their command-line tools in the same process tree.

Usage: `.venv/bin/python bench/audit/run.py [--repeat N]`; writes bench/audit/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ("sklearn", "pandas", "fastapi")


def package_paths() -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    paths = [site / name for name in PACKAGES]
    missing = [p for p in paths if not p.is_dir()]
    if missing:
        sys.exit(f"missing packages: {', '.join(map(str, missing))}")
    return paths


def timed(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        sys.exit(
            f"{command[0]} failed ({completed.returncode}): {completed.stderr.decode()[-800:]}"
        )
    return elapsed, completed.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool (median reported)")
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    infermedic = str(bindir / "infermedic")
    bandit = shutil.which("bandit", path=str(bindir)) or sys.exit("pip install bandit first")
    paths = package_paths()
    n_files = sum(1 for p in paths for _ in p.rglob("*.py"))
    n_lines = sum(f.read_bytes().count(b"\n") for p in paths for f in p.rglob("*.py"))
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
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(args.repeat):  # interleaved so background load hits both alike
            ours.append(timed(ours_cmd)[0])
            theirs.append(timed(theirs_cmd)[0])
        ours_report = json.loads(ours_json.read_text(encoding="utf-8"))
        theirs_report = json.loads(theirs_json.read_text(encoding="utf-8"))
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    ratio = ours_s / theirs_s
    bandit_version = subprocess.run(
        [bandit, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    rows = [
        (
            "infermedic audit",
            ours_s,
            min(ours),
            len(ours_report["findings"]),
            ours_report["summary"]["notifications"],
        ),
        (
            bandit_version,
            theirs_s,
            min(theirs),
            len(theirs_report["results"]),
            len(theirs_report.get("errors", [])),
        ),
    ]
    lines = [
        "# Audit benchmark results",
        "",
        f"Tree: installed {', '.join(PACKAGES)} sources — {n_files:,} Python files, "
        f"{n_lines:,} lines. Both tools run as CLIs (start-up included), interleaved, "
        f"{args.repeat} runs each; median wall time.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| tool | median wall (s) | best (s) | findings | notes/errors |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[
            f"| {name} | {median:.2f} | {best:.2f} | {found} | {notes} |"
            for name, median, best, found, notes in rows
        ],
        "",
        f"**Ratio infermedic / bandit: {ratio:.2f}** (goal ≤ 0.5, issue 19).",
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
