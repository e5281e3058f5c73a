"""Drift benchmark: infermedic (raw/raw, exact KS, saved profile) vs Evidently's DataDriftPreset.

Each contender runs in a fresh process that reports its own wall time and peak RSS
(`ru_maxrss`), so imports and Parquet reading are included, as in reference/drift.md §3.3.
Evidently runs from its own virtualenv (`--evidently-python`), skipped if it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from versus import host  # noqa: E402

HERE = Path(__file__).resolve().parent

INFERMEDIC = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from infermedic.drift import DriftOptions, drift, profile_dataset
from infermedic.drift.profile_file import save_profile
from infermedic.report import OutputFormat, render
mode, ref, cur, out = sys.argv[1:5]
findings = None
if mode == "profile-build":
    profile, _ = profile_dataset(ref)
    save_profile(profile, __import__("pathlib").Path(out))
else:
    report = drift(ref, cur, options=DriftOptions(exact_ks=(mode == "raw-exact")))
    render(report, OutputFormat.JSON)
    findings = sorted(f"{f.code}:{f.location.column_name}" for f in report.findings)
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "peak_rss_mb": rss, "findings": findings}))
"""

EVIDENTLY = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
num = [c for c in ref.columns if c.startswith("num_")]
cat = [c for c in ref.columns if c.startswith("cat_")]
definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
r = Dataset.from_pandas(ref, data_definition=definition)
c = Dataset.from_pandas(cur, data_definition=definition)
snapshot = Report([DataDriftPreset()]).run(c, r)
snapshot.json()
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "peak_rss_mb": rss}))
"""


def _run(python: str, script: str, *args: str) -> dict[str, object]:
    started = time.perf_counter()
    proc = subprocess.run(
        [python, "-c", script, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return {
            "error": proc.stderr.strip().splitlines()[-1:],
            "wall_s": time.perf_counter() - started,
        }
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"wall_s"')]
    if not lines:
        return {"error": proc.stdout[-500:] + proc.stderr[-500:]}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=HERE / "results" / "raw")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--evidently-python", default="/tmp/evenv/bin/python")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    ref, cur = args.data / "reference.parquet", args.data / "current.parquet"
    if not ref.exists():
        subprocess.run(
            [
                sys.executable,
                str(HERE / "gen_data.py"),
                "--rows",
                str(args.rows),
                "--out",
                str(args.data),
            ],
            check=True,
        )
    profile = args.data / "reference.profile"
    results: dict[str, object] = {
        "load_average_at_start": os.getloadavg(),
        "cpus": os.cpu_count(),
        "host": host(),
    }
    for mode in ("raw-noks", "raw-exact", "profile-build"):
        results[mode] = _run(sys.executable, INFERMEDIC, mode, str(ref), str(cur), str(profile))
        print(mode, results[mode], flush=True)
    results["profile-vs-current"] = _run(
        sys.executable, INFERMEDIC, "raw-noks", str(profile), str(cur), "-"
    )
    print("profile-vs-current", results["profile-vs-current"], flush=True)
    if not args.skip_evidently and Path(args.evidently_python).exists():
        results["evidently"] = _run(args.evidently_python, EVIDENTLY, str(ref), str(cur))
        print("evidently", results["evidently"], flush=True)
    results["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
