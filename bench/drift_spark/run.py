"""Spark engine benchmark: `drift --engine spark` (local[2]) against the DuckDB engine.

Same data as bench/drift (20 numeric + 5 categorical columns, seeded, with the changes of
reference/drift.md §3.1), written as directories of 1M-row Parquet files so 10M rows never
sit in memory at once. Every contender runs in a fresh process that samples the RSS of its
whole process tree (Python and, for Spark, the JVM) and reports wall time; the Spark
session start is timed apart from the profiling. Also measured: profile size per column
(it must not grow with rows) and the cost of merging 30 daily profiles.

    .venv/bin/python bench/drift_spark/run.py --rows 1000000 [--rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
CHUNK_ROWS = 1_000_000

# Peak RSS of this process and all its descendants (the JVM for Spark), sampled every 0.1 s.
SAMPLER = r"""
import json, sys, threading, time, psutil
_peak = [0]
def _sample():
    me = psutil.Process()
    while True:
        try:
            procs = [me, *me.children(recursive=True)]
            _peak[0] = max(_peak[0], sum(p.memory_info().rss for p in procs))
        except psutil.Error:
            pass
        time.sleep(0.1)
threading.Thread(target=_sample, daemon=True).start()
def peak_mb():
    return _peak[0] / 2**20
"""

DUCKDB = (
    SAMPLER
    + r"""
t0 = time.perf_counter()
from infermedic.drift import DriftOptions, drift, profile_dataset
ref, cur, exact = sys.argv[1], sys.argv[2], sys.argv[3] == "exact"
report = drift(ref, cur, options=DriftOptions(exact_ks=exact))
wall = time.perf_counter() - t0
findings = sorted(f"{f.code}:{f.location.column_name}" for f in report.findings)
print(json.dumps({"wall_s": wall, "peak_rss_mb": peak_mb(), "findings": findings}))
"""
)

SPARK = (
    SAMPLER
    + r"""
t0 = time.perf_counter()
from infermedic.drift.profile_file import save_profile, to_json_dict
from infermedic.drift.spark import SparkEngine, SparkSettings, drift_on_spark, spark_session
from infermedic.drift.spark.profile import profile_on_spark
ref, cur, profile_out = sys.argv[1], sys.argv[2], sys.argv[3]
with spark_session(SparkSettings(master="local[2]")) as spark:
    session_start = time.perf_counter() - t0
    engine = SparkEngine(spark)
    t1 = time.perf_counter()
    report = drift_on_spark(ref, cur, engine=engine)
    drift_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    profile, _ = profile_on_spark(ref, engine=engine)
    profile_s = time.perf_counter() - t2
save_profile(profile, __import__("pathlib").Path(profile_out))
sizes = {c["name"]: len(json.dumps(c)) for c in to_json_dict(profile)["columns"]}
findings = sorted(f"{f.code}:{f.location.column_name}" for f in report.findings)
print(json.dumps({
    "wall_s": time.perf_counter() - t0, "session_start_s": session_start,
    "drift_s": drift_s, "reference_profile_s": profile_s, "peak_rss_mb": peak_mb(),
    "findings": findings, "profile_bytes_per_column": sizes,
}))
"""
)

MERGE = r"""
import json, sys, time
from pathlib import Path
from infermedic.drift.profile import merge_profiles
from infermedic.drift.profile_file import load_profile, save_profile
paths = [Path(p) for p in sys.argv[2:]]
t0 = time.perf_counter()
profiles = [load_profile(p) for p in paths]
t1 = time.perf_counter()
merged = merge_profiles(profiles)
t2 = time.perf_counter()
save_profile(merged, Path(sys.argv[1]))
t3 = time.perf_counter()
print(json.dumps({"profiles": len(paths), "load_s": t1 - t0, "merge_s": t2 - t1,
                  "save_s": t3 - t2, "rows": merged.rows}))
"""

DAILY = r"""
import sys
from pathlib import Path
from infermedic.drift import profile_dataset
from infermedic.drift.profile_file import load_profile, save_profile
reference = load_profile(Path(sys.argv[1]))
for day in sys.argv[3:]:
    profile, _ = profile_dataset(day, reference=reference)
    save_profile(profile, Path(sys.argv[2]) / (Path(day).stem + ".profile"))
"""


def _python(script: str, *args: str, timeout: float = 3600) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"contender failed ({done.returncode}):\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def _generate(rows: int, root: Path) -> tuple[Path, Path]:
    """reference/ and current/ directories of 1M-row Parquet files (bench/drift's generator)."""
    sys.path.insert(0, str(HERE.parent / "drift"))
    from gen_data import make_table  # type: ignore[import-not-found]

    out = root / f"rows-{rows}"
    for name, seed, drifted in (("reference", 1, False), ("current", 2, True)):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(max(1, rows // CHUNK_ROWS)):
            path = folder / f"part-{index:03d}.parquet"
            if path.exists():
                continue
            table = make_table(min(rows, CHUNK_ROWS), seed=seed * 1000 + index, drifted=drifted)
            pq.write_table(table, path, row_group_size=128_000)
    return out / "reference", out / "current"


def _merge_bench(reference: Path, current: Path, work: Path, days: int) -> dict[str, object]:
    """Split the first current file into `days` daily files, profile each on the reference's
    edges (DuckDB engine: the format is shared), then merge them in a fresh process."""
    from infermedic.drift import profile_dataset
    from infermedic.drift.profile_file import save_profile

    work.mkdir(parents=True, exist_ok=True)
    reference_profile, _ = profile_dataset(reference)
    save_profile(reference_profile, work / "reference.profile")
    table = pq.read_table(sorted(current.glob("*.parquet"))[0])
    step = -(-table.num_rows // days)
    day_files = []
    for day in range(days):
        path = work / f"day-{day:02d}.parquet"
        pq.write_table(table.slice(day * step, step), path)
        day_files.append(str(path))
    _python(DAILY, str(work / "reference.profile"), str(work), *day_files)
    profiles = sorted(str(p) for p in work.glob("day-*.profile"))
    result = _python(MERGE, str(work / "merged.profile"), *profiles)
    result["merged_profile_bytes"] = (work / "merged.profile").stat().st_size
    result["daily_profile_bytes"] = os.path.getsize(profiles[0])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, action="append", help="repeatable; default 1M")
    parser.add_argument("--data", type=Path, default=Path("/tmp/infermedic-bench-drift-spark"))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
        "runs": {},
    }
    for rows in args.rows or [1_000_000]:
        reference, current = _generate(rows, args.data)
        run: dict[str, object] = {}
        for mode in ("no-exact", "exact"):
            run[f"duckdb_{mode}"] = _python(DUCKDB, str(reference), str(current), mode)
            print(rows, f"duckdb {mode}", run[f"duckdb_{mode}"]["wall_s"], flush=True)
        spark = _python(SPARK, str(reference), str(current), str(args.data / f"ref-{rows}.profile"))
        run["spark_local2"] = spark
        print(rows, "spark", spark["session_start_s"], spark["drift_s"], flush=True)
        run["findings_identical"] = spark["findings"] == run["duckdb_no-exact"]["findings"]  # type: ignore[index]
        results["runs"][str(rows)] = run  # type: ignore[index]
    results["merge"] = _merge_bench(
        *_generate(1_000_000, args.data), args.data / "daily", args.days
    )
    results["machine"]["load_avg_at_end"] = os.getloadavg()  # type: ignore[index]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results["merge"], indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"bench took {time.perf_counter() - started:.0f} s")
