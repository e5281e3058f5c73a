"""The special functions behind drift's p-values, pinned against scipy.special on grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special as sps

from infermedic.drift import special


def test_kolmogorov_matches_scipy() -> None:
    for x in np.concatenate((np.linspace(0.0, 6.0, 601), [0.03, 0.999, 1.0, 1.001, 8.0])):
        expected = float(sps.kolmogorov(x))
        assert special.kolmogorov(float(x)) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert math.isnan(special.kolmogorov(math.nan))


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 7, 10, 49, 99, 999, 9999])
def test_chi_square_tail_matches_scipy(dof: int) -> None:
    for x in np.concatenate((np.geomspace(1e-4, 30_000.0, 300), [dof - 0.5, dof, dof + 1.0])):
        expected = float(sps.chdtrc(dof, x))
        assert special.chi2_sf(dof, float(x)) == pytest.approx(expected, rel=1e-10, abs=1e-300)
    assert special.chi2_sf(dof, 0.0) == 1.0
    assert special.chi2_sf(dof, math.inf) == 0.0


def _binomial_tail_by_sum(k: int, n: int, p: float) -> float:
    """P(X >= k) summed term by term from the probability at k (the recurrence's ratios)."""
    term = special._binomial_pmf(k, n, p)
    terms = [term]
    for j in range(k, n):
        term *= (n - j) / (j + 1) * p / (1.0 - p)
        terms.append(term)
        if term < 1e-20 * terms[0] and j > n * p:
            break
    return math.fsum(terms)


@pytest.mark.parametrize("n", [1, 2, 5, 17, 100, 5000, 100_000, 1_000_000])
def test_binomial_tail_matches_scipy(n: int) -> None:
    for p in (2.0 / (n + 1), 1e-6, 0.01, 0.3, 0.5, 0.9):
        for k in {0, 1, 2, 3, 5, 10, 166, int(n * p), int(n * p) + 1, n // 2, n - 1, n}:
            if k > n:
                continue
            expected = float(sps.bdtrc(k - 1, n, p))
            # cephes' incomplete beta itself loses ~1e-11 at n = 5000, ~1e-9 at 1e6 (see below)
            rel = 1e-10 if n <= 5000 else 1e-8
            got = special.binomial_sf(k - 1, n, p)
            assert got == pytest.approx(expected, rel=rel, abs=1e-300), (k, n, p)


def test_binomial_tail_is_exact_where_scipy_drifts() -> None:
    # at ten million trials near the mean scipy's bdtrc is off by ~4e-3; a direct sum is not
    for k, n, p in ((3_000_000, 10_000_000, 0.3), (10, 10_000_000, 1e-6), (5, 100_000, 2e-5)):
        expected = _binomial_tail_by_sum(k, n, p)
        assert special.binomial_sf(k - 1, n, p) == pytest.approx(expected, rel=1e-11)


def test_log_factorials_and_relative_entropy_match_scipy() -> None:
    table = special.log_factorials(100_000)
    expected = sps.gammaln(np.arange(100_001) + 1.0)
    np.testing.assert_allclose(table, expected, rtol=1e-14, atol=1e-14)
    x = np.array([0.0, 0.1, 0.5, 0.0, 1.0, 0.3])
    y = np.array([0.2, 0.1, 0.0, 0.0, 0.3, 0.7])
    np.testing.assert_array_equal(special.rel_entr(x, y), sps.rel_entr(x, y))
