"""Known shifts are found end to end (Parquet -> DuckDB -> findings), and trivial ones are not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from infermedic.drift import DriftOptions, drift
from infermedic.model import Report


def _codes(report: Report) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in report.findings:
        found.setdefault(f.location.column_name or "", set()).add(f.code)
    return found


def test_mean_shift_of_a_tenth_sd_at_a_million_rows_is_found(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    rng = np.random.default_rng(11)
    n = 1_000_000
    ref = write_parquet(
        "ref.parquet", {"shifted": rng.normal(0, 1, n), "tiny": rng.normal(0, 1, n)}
    )
    cur = write_parquet(
        "cur.parquet", {"shifted": rng.normal(0.1, 1, n), "tiny": rng.normal(0.01, 1, n)}
    )
    report = drift(ref, cur, options=DriftOptions(exact_ks=False))
    codes = _codes(report)
    assert codes.get("shifted") == {"DRIFT001"}
    # 0.01 sd: significant at this n (p tiny) but below every effect floor: not a finding
    assert "tiny" not in codes
    values = report.measurements["columns"]["tiny"]
    assert values["tests"]["distribution"]["p_adjusted"] < 0.05
    assert values["wasserstein_std"] < 0.05


def test_categories_and_missing_rates(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    rng = np.random.default_rng(12)
    n = 20_000
    base = np.array(["a", "b", "c", "d", "gone"])
    probs = np.array([0.4, 0.3, 0.2, 0.08, 0.02])
    ref_cat = base[rng.choice(5, n, p=probs)]
    cur_probs = np.array([0.4, 0.3, 0.2, 0.08, 0.0])
    cur_cat = base[rng.choice(5, n, p=cur_probs / cur_probs.sum())]
    new_mask = rng.random(n) < 0.02
    cur_cat = np.where(new_mask, "brand_new", cur_cat)
    ref_num = rng.normal(size=n)
    ref_num[rng.random(n) < 0.01] = np.nan
    cur_num = rng.normal(size=n)
    cur_num[rng.random(n) < 0.10] = np.nan
    steady = base[rng.choice(5, n, p=probs)]
    ref = write_parquet("ref.parquet", {"plan": ref_cat, "income": ref_num, "steady": steady})
    cur = write_parquet(
        "cur.parquet",
        {"plan": cur_cat, "income": cur_num, "steady": base[rng.choice(5, n, p=probs)]},
    )
    report = drift(ref, cur)
    codes = _codes(report)
    assert {"DRIFT003", "DRIFT004"} <= codes["plan"]
    assert codes["income"] == {"DRIFT005"}
    assert "steady" not in codes
    new = next(f for f in report.findings if f.code == "DRIFT003")
    assert "'brand_new'" in new.message
    gone = next(f for f in report.findings if f.code == "DRIFT004")
    assert "'gone'" in gone.message


def test_prediction_column_is_reported_apart(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    rng = np.random.default_rng(13)
    n = 5000
    ref = write_parquet("ref.parquet", {"x": rng.normal(size=n), "prediction": rng.beta(2, 5, n)})
    cur = write_parquet("cur.parquet", {"x": rng.normal(size=n), "prediction": rng.beta(5, 2, n)})
    report = drift(ref, cur)
    codes = _codes(report)
    assert set(codes) == {"prediction"} and "DRIFT002" in codes["prediction"]
    assert "DRIFT001" not in codes["prediction"]
    finding = next(f for f in report.findings if f.code == "DRIFT002")
    assert finding.evidence[0].action.startswith("KS two-sample on ")
    assert "BH-adjusted" in finding.evidence[0].observed
    assert report.plots and report.plots[0].kind == "bar"
    assert len(report.plots[0].series) == 2


def test_no_drift_gives_no_findings_and_states_definitions(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    rng = np.random.default_rng(14)
    n = 50_000
    cols = {f"x{i}": rng.normal(size=n) for i in range(5)}
    cols["c"] = pa.array(rng.choice(["u", "v", "w"], n).tolist())
    ref = write_parquet("ref.parquet", cols)
    cur = write_parquet(
        "cur.parquet",
        {**{f"x{i}": rng.normal(size=n) for i in range(5)}, "c": rng.choice(["u", "v", "w"], n)},
    )
    report = drift(ref, cur)
    assert report.findings == ()
    assert "open to -inf/+inf" in report.measurements["definitions"]["psi"]
    assert report.tables[0].rows
