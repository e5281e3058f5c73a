"""Issue 19's absolute goals: wall time, CPU time and peak RSS of each drift path at 1M rows.

Paths, each in a fresh process (imports, Parquet reading and the JSON render included):
`binned` (`exact_ks=False`), `exact` (the default: exact KS and Wasserstein), `profile`
(a saved reference profile, built before the timing, against the current file) and
`profile-cli` (the same through the `infermedic drift` command's click entry, JSON to a
buffer) and `profile-command` (`python -m infermedic drift PROFILE CURRENT --format json`
itself, its exit included); `binned-command` and `exact-command` run the command on the two
raw files (the command starts numpy as `infermedic.drift.numpy_start` says, a library caller
as their own process does: on AMD Zen 4 the two differ ~2x). `--current-rows` adds the
saved-profile paths against bigger current files (`profile@N`...), which splits their time
into a fixed part and a part per million rows. With `--before-src`, an older source tree
runs the same paths in the same rounds.

The machine this runs on is shared: wall time follows the load, so every run records the
load average before and after it, and its CPU time (user + system of the process and its
threads, from `wait4`), which the load inflates far less. Rounds interleave the paths so
each sees the same load. Data: `versus.py`'s cache (`gen_data.py` design, 128k-row groups).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from versus import INFERMEDIC, _env, ensure_data, host  # noqa: E402

GOALS_S = {
    "binned": 3.0,
    "exact": 8.0,
    "profile": 0.5,
    "profile-cli": 0.5,
    "profile-command": 0.5,
    "binned-command": 3.0,
    "exact-command": 8.0,
}
# The saved-profile path as users run it: the `infermedic drift` command (its lazy imports,
# its numpy start-up), report written as JSON; `-c` start-up as for the library script.
CLI = r"""
import io, json, resource, sys, time
from contextlib import redirect_stdout
t0 = time.perf_counter()
from infermedic.cli.app import cli
out = io.StringIO()
with redirect_stdout(out):
    cli(["drift", sys.argv[1], sys.argv[2], "--format", "json"], standalone_mode=False)
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
findings = len(json.loads(out.getvalue())["findings"])
print(json.dumps({"wall_s": wall, "peak_rss_mb": rss, "findings": findings}))
"""
# The command itself, `python -m infermedic drift PROFILE CURRENT --format json`, its
# report read from a file: start-up and exit as a user's shell sees them.
COMMAND = "<the infermedic command>"
GOAL_RSS_MB = 600.0


def _one(script: str, argv: list[str], env: dict[str, str]) -> dict[str, float]:
    load = os.getloadavg()[0]
    command = script == COMMAND
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infermedic", *argv]
            if command
            else [sys.executable, "-c", script, *argv],
            env=env,
            stdout=out_file,
            stderr=err_file,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read().decode(), err_file.read().decode()[-500:]
    if command:
        # the command exits 1 when it reports findings at or above --fail-on (the default)
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise SystemExit(f"run failed: {err}")
        inner = {"findings": len(json.loads(out)["findings"])}
    elif status != 0 or '{"wall_s"' not in out:
        raise SystemExit(f"run failed: {err}")
    else:
        inner = json.loads(out[out.index('{"wall_s"') :].splitlines()[0])
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "findings": inner["findings"],
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--current-rows",
        type=int,
        nargs="+",
        default=None,
        help="also time the saved profile (built from --rows) against current files of these "
        "sizes (paths profile@N, profile-cli@N): the fixed cost and the cost per 1M rows",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/infermedic-drift-bench"))
    parser.add_argument("--src", type=Path, default=HERE.parents[1] / "src")
    parser.add_argument("--before-src", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "goals.json")
    parser.add_argument(
        "--paths", nargs="+", choices=list(GOALS_S), default=list(GOALS_S), help="paths to time"
    )
    args = parser.parse_args()
    folder = ensure_data(args.data, args.rows)
    ref, cur = str(folder / "reference.parquet"), str(folder / "current.parquet")
    trees = {"after": _env(args.src)}
    if args.before_src is not None:
        trees["before"] = _env(args.before_src)
    profile = folder / "reference.profile"
    profile.unlink(missing_ok=True)  # built by this tree, outside the timing
    subprocess.run(
        [sys.executable, "-m", "infermedic", "drift", "profile", ref, "--output", str(profile)],
        env=trees["after"],
        check=True,
        capture_output=True,
    )
    paths = {
        "binned": (INFERMEDIC, [ref, cur, "binned"]),
        "exact": (INFERMEDIC, [ref, cur, "exact"]),
        "profile": (INFERMEDIC, [str(profile), cur, "binned"]),
        "profile-cli": (CLI, [str(profile), cur]),
        "profile-command": (COMMAND, ["drift", str(profile), cur, "--format", "json"]),
        "binned-command": (COMMAND, ["drift", ref, cur, "--no-exact-ks", "--format", "json"]),
        "exact-command": (COMMAND, ["drift", ref, cur, "--format", "json"]),
    }
    paths = {name: paths[name] for name in args.paths}
    for rows in args.current_rows or ():
        other = str(ensure_data(args.data, rows) / "current.parquet")
        for name in ("profile", "profile-cli", "profile-command"):
            if name in paths:
                script, argv = paths[name]
                at = 2 if script == COMMAND else 1  # the current file's place in argv
                paths[f"{name}@{rows}"] = (script, [*argv[:at], other, *argv[at + 1 :]])
    runs: dict[str, list[dict[str, float]]] = {}
    for round_ in range(args.rounds):
        for tree, env in trees.items():
            for path, (script, argv) in paths.items():
                one = _one(script, argv, env)
                runs.setdefault(f"{tree}:{path}", []).append(one)
                print(round_, tree, path, one, flush=True)
    summary = {
        key: {
            "median_wall_s": statistics.median(r["wall_s"] for r in rs),
            "min_wall_s": min(r["wall_s"] for r in rs),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in rs),
            "min_cpu_s": min(r["cpu_s"] for r in rs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "load": [
                min(min(r["load_before"], r["load_after"]) for r in rs),
                max(max(r["load_before"], r["load_after"]) for r in rs),
            ],
        }
        for key, rs in runs.items()
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"rows": args.rows, "host": host(), "runs": runs, "summary": summary}, indent=2)
        + "\n"
    )
    print(markdown(summary))


def markdown(summary: dict[str, dict[str, object]]) -> str:
    lines = [
        "| path | goal (wall) | wall median (min) | CPU median (min) | peak RSS | load avg |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, s in summary.items():
        tree, path = key.split(":")
        goal = f"<= {GOALS_S[path]:g} s" if path in GOALS_S else "-"
        load = s["load"]
        assert isinstance(load, list)
        lines.append(
            f"| {path} ({tree}) | {goal} | {s['median_wall_s']:.2f} s "
            f"({s['min_wall_s']:.2f}) | {s['median_cpu_s']:.2f} s ({s['min_cpu_s']:.2f}) | "
            f"{s['peak_rss_mb']:.0f} MB | {load[0]:.1f}-{load[1]:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
