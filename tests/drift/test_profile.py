"""Profiles: raw-path verdicts, KS within the stated bound, merge == profile of the union."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import datasketches
import numpy as np
import pytest
from scipy import stats as sps

from infermedic.drift import ColumnOptions, drift, merge_profile_files, profile_dataset
from infermedic.drift.profile_file import load_profile, save_profile
from infermedic.errors import DatasetError


def _data(rng: np.random.Generator, n: int, shift: float) -> dict[str, object]:
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < (0.01 + shift / 2)] = np.nan
    return {
        "x": x,
        "y": rng.exponential(1 + shift, n),
        "zeros": np.where(rng.random(n) < 0.6 + shift, 0.0, rng.exponential(1, n)),
        "c": rng.choice(["a", "b", "c"], n, p=[0.5 - shift, 0.3, 0.2 + shift]),
    }


def test_profile_path_gives_the_raw_path_verdicts_and_bounded_ks(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    rng = np.random.default_rng(21)
    ref_data, cur_data = _data(rng, 40_000, 0.0), _data(rng, 30_000, 0.1)
    ref = write_parquet("ref.parquet", ref_data)
    cur = write_parquet("cur.parquet", cur_data)
    raw = drift(ref, cur)
    profile, _ = profile_dataset(ref)
    saved = tmp_path / "ref.profile"
    save_profile(profile, saved)
    from_profile = drift(saved, cur)
    assert {(f.code, f.location.column_name) for f in raw.findings} == {
        (f.code, f.location.column_name) for f in from_profile.findings
    }
    assert raw.findings  # the shift is real, so the comparison is not vacuous
    for name in ("x", "y", "zeros"):
        bounded = from_profile.measurements["columns"][name]
        exact = raw.measurements["columns"][name]
        a = np.asarray(ref_data[name])
        b = np.asarray(cur_data[name])
        expected = sps.ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)]).statistic
        assert abs(exact["ks_statistic"] - expected) < 1e-9
        assert bounded["ks_lower"] - 1e-12 <= expected <= bounded["ks_upper"] + 1e-12
        assert (
            bounded["wasserstein_lower"] - 1e-12
            <= exact["wasserstein"]
            <= bounded["wasserstein_upper"] + 1e-12
        )


def test_merge_of_daily_profiles_equals_profile_of_all_days(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    rng = np.random.default_rng(22)
    reference, _ = profile_dataset(write_parquet("ref.parquet", _data(rng, 20_000, 0.0)))
    days = [_data(rng, 5_000, 0.05) for _ in range(3)]
    paths = []
    for i, day in enumerate(days):
        profile, _ = profile_dataset(write_parquet(f"day{i}.parquet", day), reference=reference)
        path = tmp_path / f"day{i}.profile"
        save_profile(profile, path)
        paths.append(path)
    merged = merge_profile_files(paths, tmp_path / "merged.profile")
    everything = {k: np.concatenate([np.asarray(d[k]) for d in days]) for k in days[0]}
    whole, _ = profile_dataset(write_parquet("all.parquet", everything), reference=reference)
    assert merged.rows == whole.rows == 15_000
    for m, w in zip(merged.columns, whole.columns, strict=True):
        assert (m.name, m.nulls, m.non_finite) == (w.name, w.nulls, w.non_finite)
        if m.numeric is not None and w.numeric is not None:
            assert m.numeric.binning == w.numeric.binning  # exact counts on the reference edges
            assert (m.numeric.count, m.numeric.minimum, m.numeric.maximum) == (
                w.numeric.count,
                w.numeric.minimum,
                w.numeric.maximum,
            )
            assert m.numeric.mean == pytest.approx(w.numeric.mean, rel=1e-12, abs=1e-12)
            assert m.numeric.variance == pytest.approx(w.numeric.variance, rel=1e-9)
            sketch, whole_sketch = m.numeric.kll(), w.numeric.kll()
            eps = datasketches.kll_doubles_sketch.get_normalized_rank_error(sketch.k, False)
            for q in (0.1, 0.5, 0.9):
                value = whole_sketch.get_quantile(q)
                assert abs(sketch.get_rank(value) - whole_sketch.get_rank(value)) <= 2 * eps
        if m.categorical is not None and w.categorical is not None:
            assert dict(m.categorical.counts) == dict(w.categorical.counts)


def test_profile_round_trips_and_rejects_other_versions(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    rng = np.random.default_rng(23)
    profile, _ = profile_dataset(write_parquet("ref.parquet", _data(rng, 2_000, 0.0)))
    path = tmp_path / "ref.profile"
    save_profile(profile, path)
    assert load_profile(path) == profile
    document = json.loads(path.read_text())
    assert document["format"] == "infermedic-drift-profile" and document["version"] == 1
    document["version"] = 99
    path.write_text(json.dumps(document))
    with pytest.raises(DatasetError, match="version 99"):
        load_profile(path)


def test_merging_profiles_with_different_columns_is_an_error(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    rng = np.random.default_rng(24)
    a, _ = profile_dataset(write_parquet("a.parquet", {"x": rng.normal(size=100)}))
    b, _ = profile_dataset(write_parquet("b.parquet", {"z": rng.normal(size=100)}))
    save_profile(a, tmp_path / "a.profile")
    save_profile(b, tmp_path / "b.profile")
    with pytest.raises(DatasetError, match="different columns"):
        merge_profile_files(
            [tmp_path / "a.profile", tmp_path / "b.profile"], tmp_path / "m.profile"
        )


def test_reference_merged_from_different_edges_falls_back_to_sketches(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    rng = np.random.default_rng(25)
    parts = []
    for i in range(2):
        profile, _ = profile_dataset(write_parquet(f"p{i}.parquet", {"x": rng.normal(size=20_000)}))
        save_profile(profile, tmp_path / f"p{i}.profile")
        parts.append(tmp_path / f"p{i}.profile")
    merged = merge_profile_files(parts, tmp_path / "ref.profile")
    assert merged.columns[0].numeric is not None and merged.columns[0].numeric.binning is None
    cur = write_parquet("cur.parquet", {"x": rng.normal(0.3, 1, size=20_000)})
    report = drift(tmp_path / "ref.profile", cur)
    assert [f.code for f in report.findings] == ["DRIFT001"]
    assert any("KLL sketch" in n.message for n in report.notifications)
    assert ColumnOptions() == ColumnOptions()


def test_merging_matches_columns_by_name_not_position(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    rng = np.random.default_rng(25)
    x1, y1, x2, y2 = (rng.normal(size=500) for _ in range(4))
    a, _ = profile_dataset(write_parquet("a.parquet", {"x": x1, "y": y1}))
    b, _ = profile_dataset(write_parquet("b.parquet", {"y": y2, "x": x2}))
    save_profile(a, tmp_path / "a.profile")
    save_profile(b, tmp_path / "b.profile")
    merged = merge_profile_files([tmp_path / "a.profile", tmp_path / "b.profile"], tmp_path / "m")
    by_name = {c.name: c for c in merged.columns}
    assert by_name["x"].numeric is not None and by_name["y"].numeric is not None
    assert by_name["x"].numeric.minimum == pytest.approx(min(x1.min(), x2.min()))
    assert by_name["y"].numeric.maximum == pytest.approx(max(y1.max(), y2.max()))
