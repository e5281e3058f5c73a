"""Agreement with scipy where the definitions match, on real Parquet read by DuckDB."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial import distance

from infermedic.drift import stats
from infermedic.drift.duckdb_engine import DuckDBEngine
from infermedic.drift.sources import resolve_source


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "rounding", "few_distinct"),
    [
        (300, 200, None, False),
        (3000, 2500, 1, False),
        (3000, 2500, 1, True),
        (20_000, 15_000, None, True),
        (20_000, 15_000, None, False),
    ],
)
def test_exact_ks_and_wasserstein_match_scipy(
    write_parquet: Callable[[str, dict[str, object]], Path],
    n_ref: int,
    n_cur: int,
    rounding: int | None,
    few_distinct: bool,
) -> None:
    rng = np.random.default_rng(n_ref)
    ref = rng.normal(0.0, 1.0, n_ref)
    cur = rng.normal(0.15, 1.1, n_cur)
    if rounding is not None:  # ties, as in integer-valued or rounded features
        ref, cur = np.round(ref, rounding), np.round(cur, rounding)
    ref_path = write_parquet("ref.parquet", {"x": ref})
    cur_path = write_parquet("cur.parquet", {"x": cur})
    with DuckDBEngine() as engine:
        result = engine.exact_numeric(
            resolve_source(ref_path),
            resolve_source(cur_path),
            "x",
            n_ref,
            n_cur,
            few_distinct=few_distinct,
        )
    expected = sps.ks_2samp(ref, cur)
    assert abs(result.ks_statistic - expected.statistic) < 1e-9
    assert abs(stats.ks_pvalue(result.ks_statistic, n_ref, n_cur) - expected.pvalue) < 1e-9
    assert abs(result.wasserstein - sps.wasserstein_distance(ref, cur)) < 1e-9


def test_ks_pvalue_matches_scipy_on_both_branches() -> None:
    rng = np.random.default_rng(7)
    for n, m in ((50, 80), (1000, 1000), (9000, 12_000)):
        a, b = rng.normal(size=n), rng.normal(0.05, 1, size=m)
        expected = sps.ks_2samp(a, b)
        assert abs(stats.ks_pvalue(float(expected.statistic), n, m) - expected.pvalue) < 1e-9


@pytest.mark.parametrize("en", [10_000, 37_123])
def test_kolmogorov_tail_without_scipy_stats_matches_kstwo(en: int) -> None:
    # D <= 1/n, the Kolmogorov-limit branch (t < 2.2), the Birnbaum-Tingey sum, t >= 370
    for z, rel in ((0.5 / math.sqrt(en), 0.0), (0.3, 1e-6), (0.8, 1e-5), (1.2, 1e-5),
                   (1.48, 1e-4), (1.49, 1e-9), (2.5, 1e-9), (3.8, 1e-9), (8.0, 1e-9),
                   (19.5, 0.0)):  # fmt: skip
        d = z / math.sqrt(en)
        expected = float(sps.kstwo.sf(d, en))
        assert stats._kolmogorov_sf(d, float(en)) == pytest.approx(expected, rel=rel, abs=1e-300)


def test_kolmogorov_tail_at_large_n_matches_kstwo_where_no_shift_shows() -> None:
    en = 2_000_000  # scipy's Pelz-Good branch; the asymptotic form above t = 2.2 is pinned
    for z in (0.3, 0.9, 1.3, 1.48):  # in test_columnar
        d = z / math.sqrt(en)
        assert stats._kolmogorov_sf(d, float(en)) == pytest.approx(sps.kstwo.sf(d, en), rel=1e-6)


def test_binomial_normal_and_jensen_shannon_match_scipy() -> None:
    for outside, n, n_ref in ((1, 5000, 5000), (166, 5000, 5000), (3, 1_000_000, 900_000)):
        chance = 2.0 / (n_ref + 1)
        expected = sps.binom.sf(outside - 1, n, chance)
        result = stats.out_of_range_test(outside, n, n_ref).p_value
        assert result == pytest.approx(expected, rel=1e-9)
    for a, n1, b, n2 in ((10, 1000, 25, 1000), (5000, 100_000, 5400, 90_000), (0, 50, 3, 60)):
        p1, p2, pooled = a / n1, b / n2, (a + b) / (n1 + n2)
        z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        expected = 2.0 * sps.norm.sf(abs(z))
        assert stats.two_proportion_test(a, n1, b, n2).p_value == pytest.approx(expected, rel=1e-12)
    ref, cur = [500, 300, 150, 50, 0], [480, 330, 120, 60, 10]
    ref_share, cur_share = np.array(ref) / sum(ref), np.array(cur) / sum(cur)
    expected_js = distance.jensenshannon(ref_share, cur_share, base=2.0)
    assert stats.jensen_shannon(ref, cur) == pytest.approx(expected_js, rel=1e-12)
    assert stats.jensen_shannon([1, 2, 3], [2, 4, 6]) == 0.0


def test_chi2_is_the_homogeneity_test_of_scipy() -> None:
    ref = [500, 300, 150, 50, 0]
    cur = [480, 330, 120, 60, 10]
    result = stats.chi2_homogeneity(ref, cur)
    expected = sps.chi2_contingency(np.array([ref, cur]), correction=False)
    assert abs(result.statistic - expected.statistic) < 1e-9
    assert abs(result.p_value - expected.pvalue) < 1e-9


def test_bh_matches_scipy_and_bonferroni_caps_at_one() -> None:
    p = [0.001, 0.2, 0.03, 0.04, 0.5, 0.011]
    assert np.allclose(stats.adjust_pvalues(p, "bh"), sps.false_discovery_control(p), atol=1e-12)
    assert stats.adjust_pvalues([0.3, 0.01], "bonferroni") == [0.6, 0.02]


def test_binned_ks_and_wasserstein_bound_the_exact_values() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.gamma(2.0, 1.0, 20_000), rng.gamma(2.2, 1.0, 15_000)
    edges = np.unique(np.quantile(ref, np.arange(1, 100) / 100))
    rc = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1)
    cc = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1)
    lower, upper = stats.ks_from_ecdf_bins(rc, cc, edges)
    exact = sps.ks_2samp(ref, cur).statistic
    assert lower <= exact + 1e-12 <= upper + 2e-12
    bounds = np.concatenate(([min(ref.min(), cur.min())], edges, [max(ref.max(), cur.max())]))
    estimate, w_lo, w_hi = stats.wasserstein_from_bins(rc, cc, bounds)
    w = sps.wasserstein_distance(ref, cur)
    assert w_lo <= w <= w_hi
    assert abs(estimate - w) < 0.05 * w


def test_psi_uses_the_floor_and_is_zero_for_identical_bins() -> None:
    assert stats.psi([10, 20, 30], [10, 20, 30]) == 0.0
    value = stats.psi([100, 0], [50, 50])
    p, q = np.array([1.0, 1e-4]), np.array([0.5, 0.5])
    assert abs(value - float(np.sum((q - p) * np.log(q / p)))) < 1e-12
