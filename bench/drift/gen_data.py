"""Synthetic reference/current Parquet pair for the drift benchmark (reference/drift.md §3.1)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def _zipf_probs(k: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, k + 1)
    return weights / weights.sum()


def make_table(rows: int, *, seed: int, drifted: bool) -> pa.Table:
    """20 numeric + 5 categorical columns; `drifted` applies the injected changes of §3.1."""
    rng = np.random.default_rng(seed)
    d = drifted
    cols: dict[str, pa.Array] = {}
    cols["num_00"] = pa.array(rng.normal(0.02 if d else 0.0, 1.0, rows))
    cols["num_01"] = pa.array(rng.normal(0.1 if d else 0.0, 1.0, rows))
    cols["num_02"] = pa.array(rng.normal(0.5 if d else 0.0, 1.0, rows))
    cols["num_03"] = pa.array(rng.normal(0.0, 1.5 if d else 1.0, rows))
    cols["num_04"] = pa.array(rng.lognormal(0.0, 0.6 if d else 0.5, rows))
    num_05 = rng.normal(0.0, 1.0, rows)
    num_05[rng.random(rows) < (0.10 if d else 0.01)] = np.nan
    cols["num_05"] = pa.array(num_05)
    cols["num_06"] = pa.array(rng.exponential(1.1 if d else 1.0, rows))
    cols["num_07"] = pa.array(rng.uniform(0.05, 1.05, rows) if d else rng.uniform(0.0, 1.0, rows))
    for i in range(8, 18):
        kind = i % 4
        if kind == 0:
            values = rng.normal(0.0, 1.0, rows)
        elif kind == 1:
            values = rng.gamma(2.0, 1.0, rows)
        elif kind == 2:
            values = rng.standard_t(5, rows)
        else:
            values = rng.beta(2.0, 5.0, rows)
        cols[f"num_{i:02d}"] = pa.array(values)
    zero_share = 0.7 if d else 0.6
    num_18 = rng.exponential(1.0, rows)
    num_18[rng.random(rows) < zero_share] = 0.0
    cols["num_18"] = pa.array(num_18)
    cols["num_19"] = pa.array(rng.poisson(3.0, rows).astype(np.float64))
    for j, k in enumerate((10, 20, 30, 40, 50)):
        probs = _zipf_probs(k)
        names = np.array([f"c{j}_{i:02d}" for i in range(k)], dtype=object)
        if d and j == 1:
            probs = probs.copy()
            probs[0] -= 0.05
            probs[1:] += 0.05 / (k - 1)
        if d and j == 2:
            probs = probs.copy()
            probs[3] += 0.01
            probs[4] -= 0.01
        if d and j == 3:
            probs = probs.copy()
            probs[-1] = 0.0  # c3_39 vanishes
            probs = probs / probs.sum() * 0.98
            names = np.append(names, "NEW_CAT")
            probs = np.append(probs, 0.02)
        values = names[rng.choice(len(names), size=rows, p=probs)]
        mask = None
        if d and j == 4:
            mask = rng.random(rows) < 0.05
        cols[f"cat_{j}"] = pa.array(values.tolist(), type=pa.string(), mask=mask)
    return pa.table(cols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/drift/results/raw"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, seed, drifted in (("reference", 1, False), ("current", 2, True)):
        table = make_table(args.rows, seed=seed, drifted=drifted)
        pq.write_table(table, args.out / f"{name}.parquet", row_group_size=128_000)
        print(f"wrote {args.out / f'{name}.parquet'} ({table.num_rows} rows)")


if __name__ == "__main__":
    main()
