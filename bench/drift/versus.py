"""infermedic drift against what a user would write by hand, interleaved in one run.

Contenders, each in a fresh process that reports its own wall time (imports and Parquet
reading included) and peak RSS:

- `pandas+scipy`: `pd.read_parquet` both files, `scipy.stats.ks_2samp` per numeric column,
  `scipy.stats.chi2_contingency` on the value counts per categorical column. Nothing else.
- `duckdb-by-hand`: one DuckDB connection; per numeric column the exact KS D from a merged
  ECDF in SQL (p-value `kstwobign`), per categorical column GROUP BY counts and scipy's chi2.
- `infermedic`: `drift(ref, cur)` with default settings (exact KS and Wasserstein) + JSON.
- `infermedic-binned`: the same with `exact_ks=False`.
- `infermedic-profile`: a saved reference profile (built before the run) vs the current file.
- `infermedic-before` (optional, `--before-src`): the same default run from an older source
  tree, for before/after ratios taken under the same load.

The machine these run on is shared, so absolute times mean little: every repetition runs
all contenders back to back, ratios are taken against pandas+scipy within the repetition,
and the median ratio over repetitions is reported with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_data import make_table  # noqa: E402

PANDAS_SCIPY = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd
from scipy import stats
ref = pd.read_parquet(sys.argv[1]); cur = pd.read_parquet(sys.argv[2])
out = {}
for c in ref.columns:
    if pd.api.types.is_numeric_dtype(ref[c]):
        a = ref[c].to_numpy(dtype=float); b = cur[c].to_numpy(dtype=float)
        out[c] = float(stats.ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)]).pvalue)
    else:
        counts = pd.concat([ref[c].value_counts(), cur[c].value_counts()], axis=1).fillna(0)
        out[c] = float(stats.chi2_contingency(counts.to_numpy().T, correction=False).pvalue)
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
drifted = sum(p < 0.05 for p in out.values())
print(json.dumps({"wall_s": wall, "peak_rss_mb": rss, "drifted": drifted}))
"""

DUCKDB_BY_HAND = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import duckdb, numpy as np
from scipy import stats
ref, cur = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
cols = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{ref}')").fetchall()
out = {}
for name, dtype, *_ in cols:
    q = f'"{name}"'
    if dtype in ("DOUBLE", "BIGINT", "FLOAT", "INTEGER"):
        n, m = (
            con.execute(f"SELECT count({q}) FROM read_parquet('{f}') WHERE isfinite({q})")
            .fetchall()[0][0]
            for f in (ref, cur)
        )
        d = con.execute(f'''
            WITH u AS (SELECT {q} AS v, 1 AS r FROM read_parquet('{ref}') WHERE isfinite({q})
                       UNION ALL SELECT {q}, 0 FROM read_parquet('{cur}') WHERE isfinite({q})),
            e AS (SELECT sum(r) OVER w / {n} - (count(*) OVER w - sum(r) OVER w) / {m} AS gap
                  FROM u WINDOW w AS (ORDER BY v))
            SELECT max(abs(gap)) FROM e''').fetchall()[0][0]
        out[name] = float(stats.kstwobign.sf(np.sqrt(n * m / (n + m)) * d))
    else:
        rows = con.execute(f'''
            SELECT v, sum(r), sum(c) FROM (
                SELECT {q} AS v, 1 AS r, 0 AS c FROM read_parquet('{ref}')
                UNION ALL SELECT {q}, 0, 1 FROM read_parquet('{cur}'))
            WHERE v IS NOT NULL GROUP BY v''').fetchall()
        table = np.array([[r[1] for r in rows], [r[2] for r in rows]], dtype=float)
        out[name] = float(stats.chi2_contingency(table, correction=False).pvalue)
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
drifted = sum(p < 0.05 for p in out.values())
print(json.dumps({"wall_s": wall, "peak_rss_mb": rss, "drifted": drifted}))
"""

INFERMEDIC = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from infermedic.drift import DriftOptions, drift
from infermedic.report import OutputFormat, render
report = drift(sys.argv[1], sys.argv[2], options=DriftOptions(exact_ks=sys.argv[3] == "exact"))
render(report, OutputFormat.JSON)
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "peak_rss_mb": rss, "findings": len(report.findings)}))
"""


def ensure_data(root: Path, rows: int) -> Path:
    """Write the reference/current pair once per size (cached across runs)."""
    import pyarrow.parquet as pq

    folder = root / str(rows)
    if (folder / "current.parquet").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    chunk = min(rows, 1_000_000)  # bounded memory at 10M rows: one million rows at a time
    for name, seed, drifted in (("reference", 1, False), ("current", 2, True)):
        tmp = folder / f".{name}.parquet"
        writer = None
        for k, start in enumerate(range(0, rows, chunk)):
            part_seed = seed if rows <= chunk else seed * 1000 + k
            table = make_table(min(chunk, rows - start), seed=part_seed, drifted=drifted)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=128_000)
        assert writer is not None
        writer.close()
        tmp.rename(folder / f"{name}.parquet")
    return folder


def host() -> dict[str, object]:
    """The processor the numbers were taken on: drift's time is mostly sorting, and numpy's
    sort differs ~6x between processors (AVX-512 on Intel, AVX2 on Zen 4: see
    `infermedic.drift.numpy_start`), so numbers from different hosts do not compare."""
    from infermedic.drift.numpy_start import avx512_sort_is_slow, read_first_cpu

    cpu = read_first_cpu()
    return {
        "cpu": cpu.get("model name"),
        "vendor": cpu.get("vendor_id"),
        "family": cpu.get("cpu family"),
        "model": cpu.get("model"),
        "cpus": os.cpu_count(),
        "zen4_slow_avx512_sort": avx512_sort_is_slow(cpu),
    }


def _env(src: Path) -> dict[str, str]:
    """The environment of a contender reading `src`: bytecode compiled once and cached, as in
    an installed package (an environment with PYTHONDONTWRITEBYTECODE would otherwise charge
    every run for compiling infermedic's source, ~0.3 s, while pandas and scipy load theirs)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(src)}


def run(script: str, args: list[str], env: dict[str, str]) -> dict[str, object]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=False
    )
    # an older tree lets DuckDB draw its progress bar on stdout, on the same line
    lines = [
        line[line.index('{"wall_s"') :] for line in proc.stdout.splitlines() if '{"wall_s"' in line
    ]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return {"error": tail, "wall_s": time.perf_counter() - started}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[300_000, 1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/infermedic-drift-bench"))
    parser.add_argument("--src", type=Path, default=HERE.parents[1] / "src")
    parser.add_argument("--before-src", type=Path, default=None)
    parser.add_argument("--before-max-rows", type=int, default=1_000_000)
    parser.add_argument("--skip", nargs="*", default=[], help="contenders to leave out")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "versus.json")
    args = parser.parse_args()
    env = _env(args.src)
    results: dict[str, object] = {"cpus": os.cpu_count(), "host": host(), "sizes": {}}
    sizes: dict[str, object] = {}
    for rows in args.rows:
        folder = ensure_data(args.data, rows)
        ref, cur = str(folder / "reference.parquet"), str(folder / "current.parquet")
        profile = folder / "reference.profile"
        profile.unlink(missing_ok=True)  # built by this source tree, outside the timing
        subprocess.run(
            [sys.executable, "-m", "infermedic", "drift", "profile", ref, "--output", str(profile)],
            env=env,
            check=True,
            capture_output=True,
        )
        contenders = {
            "pandas+scipy": (PANDAS_SCIPY, [ref, cur], env),
            "duckdb-by-hand": (DUCKDB_BY_HAND, [ref, cur], env),
            "infermedic": (INFERMEDIC, [ref, cur, "exact"], env),
            "infermedic-binned": (INFERMEDIC, [ref, cur, "binned"], env),
            "infermedic-profile": (INFERMEDIC, [str(profile), cur, "binned"], env),
        }
        if args.before_src is not None and rows <= args.before_max_rows:
            before_env = _env(args.before_src)
            contenders["infermedic-before"] = (INFERMEDIC, [ref, cur, "exact"], before_env)
            contenders["infermedic-before-binned"] = (INFERMEDIC, [ref, cur, "binned"], before_env)
        for name in args.skip:
            contenders.pop(name, None)
        reps = []
        for rep in range(args.repeat if rows <= 1_000_000 else 1):
            one: dict[str, object] = {"load_before": os.getloadavg()[0]}
            for name, (script, argv, contender_env) in contenders.items():
                one[name] = run(script, argv, contender_env)
                print(rows, rep, name, one[name], flush=True)
            one["load_after"] = os.getloadavg()[0]
            reps.append(one)
        sizes[str(rows)] = {"repetitions": reps, "median_ratio": _ratios(reps, contenders)}
        print(rows, "median ratio to pandas+scipy:", sizes[str(rows)]["median_ratio"], flush=True)
    results["sizes"] = sizes
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))


def markdown(results: dict[str, object]) -> str:
    """The run as a table of median ratios (wall / pandas+scipy's), loads and peak RSS."""
    sizes = results["sizes"]
    assert isinstance(sizes, dict)
    names: list[str] = []
    for size in sizes.values():
        names += [n for n in size["median_ratio"] if n not in names]
    lines = [
        "| rows | " + " | ".join(names) + " | load avg (1 min) | repetitions |",
        "| --- " * (len(names) + 3) + "|",
    ]
    for rows, size in sizes.items():
        reps = size["repetitions"]
        loads = [r["load_before"] for r in reps] + [r["load_after"] for r in reps]
        cells = [f"{size['median_ratio'].get(n, float('nan')):.2f}" for n in names]
        lines.append(
            f"| {int(rows):,} | "
            + " | ".join(cells)
            + f" | {min(loads):.1f}-{max(loads):.1f} | {len(reps)} |"
        )
    rss = []
    for rows, size in sizes.items():
        peaks = {
            n: max(
                float(r[n]["peak_rss_mb"])
                for r in size["repetitions"]
                if "peak_rss_mb" in r.get(n, {})
            )
            for n in names
            if any("peak_rss_mb" in r.get(n, {}) for r in size["repetitions"])
        }
        rss.append(f"{int(rows):,} rows: " + ", ".join(f"{n} {v:.0f} MB" for n, v in peaks.items()))
    return "\n".join(lines) + "\n\nPeak RSS: " + "; ".join(rss)


def _ratios(reps: list[dict[str, object]], contenders: dict[str, object]) -> dict[str, float]:
    """Median over repetitions of each contender's wall time / pandas+scipy's in that run."""
    out: dict[str, float] = {}
    for name in contenders:
        ratios = []
        for one in reps:
            base, mine = one.get("pandas+scipy"), one.get(name)
            if isinstance(base, dict) and isinstance(mine, dict) and "error" not in mine:
                ratios.append(float(mine["wall_s"]) / float(base["wall_s"]))
        if ratios:
            out[name] = round(statistics.median(ratios), 3)
    return out


if __name__ == "__main__":
    main()
