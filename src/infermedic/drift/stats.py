"""Two-sample statistics on counts and bins: PSI, KS, Wasserstein, chi-square, JS, proportions.

Everything here works on counts (histograms, category counts, ECDF values) so the same code
serves raw data (exact counts from the engine) and saved profiles. Nothing here knows which
engine produced the counts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from infermedic.drift import special

FloatArray = NDArray[np.float64]

# Neither scipy.stats nor scipy.special is imported here: importing them costs ~1 s and
# ~0.35 s of CPU, more than a drift run over 100,000 rows spends on its data. `special`
# holds the functions needed, with scipy's definitions (the tests pin each against scipy);
# only small samples (exact KS, n < 10,000) import scipy.stats.

PSI_FLOOR = 1e-4  # empty-bin share used inside the log; stated in every report
KS_EXACT_MAX_N = 10_000  # the size up to which scipy's `ks_2samp(method="auto")` is exact
# From this effective size (n*m/(n+m)) on, `kstwo.sf(D, n)` is computed here rather than by
# scipy.stats (whose `2 * smirnov(n, D)` branch takes ~0.1 s per call at n = 10,000 and
# seconds at n = 500,000): see `_kolmogorov_sf`.
KS_FAST_N = 10_000
# Above this effective size, where scipy's `kstwo.sf` would evaluate `2 * smirnov(n, D)`
# term by term, the p-value is that quantity's asymptotic form 2*exp(-2nD^2 - 2D/3): within
# 0.3% relative of scipy for every p-value above 1e-13 at n >= 100,000 (a test pins it), far
# below any decision's resolution.
KS_ASYMP_N = 100_000


@dataclass(frozen=True, kw_only=True, slots=True)
class TestResult:
    """One test's statistic, p-value and whether both are exact or bounded."""

    statistic: float
    p_value: float
    exact: bool = True
    # For bounded statistics: the interval the exact value lies in.
    lower: float | None = None
    upper: float | None = None


def psi(
    reference_counts: Sequence[int] | NDArray[np.int64],
    current_counts: Sequence[int] | NDArray[np.int64],
) -> float:
    """Population stability index over matching bins, shares floored at `PSI_FLOOR`."""
    ref = np.asarray(reference_counts, dtype=np.float64)
    cur = np.asarray(current_counts, dtype=np.float64)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return math.nan
    p = np.maximum(ref / ref.sum(), PSI_FLOOR)
    q = np.maximum(cur / cur.sum(), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def ks_pvalue(statistic: float, n_reference: int, n_current: int) -> float:
    """Two-sided two-sample KS p-value, as `scipy.stats.ks_2samp(method="auto")` computes it.

    scipy has no public function that takes D and the sizes, so the exact branch calls its
    private `_attempt_exact_2kssamp` (a test pins agreement with `ks_2samp`); above
    `KS_EXACT_MAX_N` it is Smirnov's asymptotic `kstwo.sf(D, round(n*m/(n+m)))`, as in scipy,
    computed without scipy.stats from `KS_FAST_N` on (`_kolmogorov_sf`).
    """
    n1, n2 = int(n_reference), int(n_current)
    if n1 == 0 or n2 == 0:
        return math.nan
    d = float(statistic)
    if max(n1, n2) <= KS_EXACT_MAX_N:
        from scipy.stats import _stats_py  # small samples only: the import costs ~1 s

        success, _, prob = _stats_py._attempt_exact_2kssamp(
            n1, n2, math.gcd(n1, n2), d, "two-sided"
        )
        if success:
            return float(np.clip(prob, 0.0, 1.0))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = float(np.round(m * n / (m + n)))
    return float(np.clip(_kolmogorov_sf(d, en), 0.0, 1.0))


def _kolmogorov_sf(d: float, n: float) -> float:
    """`scipy.stats.kstwo.sf(d, n)`: the two-sided one-sample Kolmogorov statistic's tail.

    Below `KS_FAST_N` scipy computes it. From there on, with t = n*D^2, in scipy's branches:
    - D <= 1/n: 1 (scipy's Ruben-Gambino CDF, n!/n^n (2nD - 1)^n, is below 1e-4000).
    - t >= 370 (and so D >= 1/2): 0, as scipy returns.
    - 2.2 <= t: scipy's 2 * smirnov(n, D). Up to `KS_ASYMP_N` its exact Birnbaum-Tingey sum
      (`_smirnov_exact`), above it the asymptotic form.
    - t < 2.2 (no evidence of a shift): the limiting Kolmogorov distribution at
      sqrt(n)*D + 1/(6 sqrt(n)) + (sqrt(n)*D - 1)/(4n), a finite-size correction that stays
      within 1e-4 relative of scipy's Pelz-Good or Durbin value there (p > 0.02; a test
      compares them on a grid).
    """
    if n < KS_FAST_N:
        from scipy import stats as sps  # small samples only: the import costs ~1 s

        return float(sps.kstwo.sf(d, n))
    t = n * d * d
    if n * d <= 1.0:
        return 1.0
    if t >= 370.0:
        return 0.0
    if t >= 2.2:
        if n > KS_ASYMP_N:
            return 2.0 * math.exp(-2.0 * t - 2.0 * d / 3.0)
        return 2.0 * _smirnov_exact(int(n), d)
    root = math.sqrt(n)
    return float(special.kolmogorov(root * d + 1.0 / (6.0 * root) + (root * d - 1.0) / (4.0 * n)))


def _smirnov_exact(n: int, d: float) -> float:
    """P(D_n^+ >= d), the one-sided Smirnov tail, by the Birnbaum-Tingey sum
    d * sum_j C(n, j) (1 - d - j/n)^(n-j) (d + j/n)^(j-1), j = 0 .. floor(n(1-d)).

    Every term is positive, so summing them in log space (one vectorised pass) loses nothing
    to cancellation."""
    last = math.floor(n * (1.0 - d))
    j = np.arange(0, last + 1, dtype=np.float64)
    log_factorial = _log_factorials(n)
    with np.errstate(divide="ignore"):  # a last term with 1 - d - j/n == 0 is log(0): zero
        log_terms = (
            log_factorial[n]
            - log_factorial[: last + 1]
            - log_factorial[n - last :][::-1]
            + (n - j) * np.log(np.maximum(1.0 - d - j / n, 0.0))
            + (j - 1.0) * np.log(d + j / n)
        )
    top = float(np.max(log_terms))
    return d * math.exp(top) * float(np.sum(np.exp(log_terms - top)))


@functools.lru_cache(maxsize=2)
def _log_factorials(n: int) -> FloatArray:
    """log(k!) for k = 0..n (the columns of one comparison share n)."""
    table = special.log_factorials(n)
    table.setflags(write=False)  # shared through the cache
    return table


def ks_from_ecdf_bins(
    reference_counts: NDArray[np.int64],
    current_counts: NDArray[np.int64],
    edges: Sequence[float] | None = None,
) -> tuple[float, float]:
    """Bounds (lower, upper) on the exact KS D from counts in the same ordered bins.

    Bins are right-closed, so each sample's ECDF is known exactly at every edge: the
    largest gap there is a lower bound. Inside a bin each ECDF moves at most by that bin's
    share, so `max(F_r(b) - F_c(a), F_c(b) - F_r(a))` over bins `(a, b]` bounds it above.
    """
    ref = np.asarray(reference_counts, dtype=np.float64)
    cur = np.asarray(current_counts, dtype=np.float64)
    fr = np.concatenate(([0.0], np.cumsum(ref) / ref.sum()))
    fc = np.concatenate(([0.0], np.cumsum(cur) / cur.sum()))
    gaps = np.abs(fr - fc)
    lower = float(np.max(gaps))
    inside = np.maximum(fr[1:] - fc[:-1], fc[1:] - fr[:-1])
    if edges is not None and len(edges) > 1:
        # A bin (a, b] with no double strictly between a and b (the sentinel below a tied
        # minimum, e.g. a zero-inflated column) has no interior: only its endpoints count.
        e = np.asarray(edges, dtype=np.float64)
        empty_inside = np.nextafter(e[:-1], np.inf) >= e[1:]
        middle = inside[1:-1]
        middle[empty_inside] = np.maximum(gaps[1:-2][empty_inside], gaps[2:-1][empty_inside])
    upper = float(np.max(inside))
    return lower, max(lower, upper)


def wasserstein_from_bins(
    reference_counts: NDArray[np.int64],
    current_counts: NDArray[np.int64],
    bin_bounds: NDArray[np.float64],
) -> tuple[float, float, float]:
    """(estimate, lower, upper) of the 1-Wasserstein distance from counts in shared bins.

    `bin_bounds` has one more entry than there are bins: finite outer limits (the smallest
    and largest value seen in either sample) around the edges. Inside a bin `[a, b]` the
    gap between the ECDFs lies between the bounds used in `ks_from_ecdf_bins`; integrating
    those gives the interval, and the midpoint of the per-bin ECDF gaps is the estimate.
    """
    ref = np.asarray(reference_counts, dtype=np.float64)
    cur = np.asarray(current_counts, dtype=np.float64)
    widths = np.diff(np.asarray(bin_bounds, dtype=np.float64))
    fr = np.concatenate(([0.0], np.cumsum(ref) / ref.sum()))
    fc = np.concatenate(([0.0], np.cumsum(cur) / cur.sum()))
    upper_gap = np.maximum(fr[1:] - fc[:-1], fc[1:] - fr[:-1])
    lower_gap = np.maximum.reduce([np.zeros_like(widths), fr[:-1] - fc[1:], fc[:-1] - fr[1:]])
    estimate_gap = 0.5 * (np.abs(fr[:-1] - fc[:-1]) + np.abs(fr[1:] - fc[1:]))
    estimate_gap = np.clip(estimate_gap, lower_gap, upper_gap)
    return (
        float(np.sum(estimate_gap * widths)),
        float(np.sum(lower_gap * widths)),
        float(np.sum(upper_gap * widths)),
    )


def chi2_homogeneity(reference_counts: Sequence[int], current_counts: Sequence[int]) -> TestResult:
    """The 2xK homogeneity chi-square (`scipy.stats.chi2_contingency`, no Yates correction).

    Categories empty in both samples are dropped; with fewer than two categories left there
    is nothing to test (statistic 0, p 1).
    """
    table = np.array([reference_counts, current_counts], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return TestResult(statistic=0.0, p_value=1.0)
    # chi2_contingency's Pearson statistic on the expected counts, and chi2.sf
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    return TestResult(statistic=statistic, p_value=special.chi2_sf(dof, statistic))


def jensen_shannon(reference_counts: Sequence[int], current_counts: Sequence[int]) -> float:
    """Jensen-Shannon distance (base 2, so in [0, 1]) between two count vectors."""
    ref = np.asarray(reference_counts, dtype=np.float64)
    cur = np.asarray(current_counts, dtype=np.float64)
    if ref.sum() <= 0 or cur.sum() <= 0:
        return math.nan
    p, q = ref / ref.sum(), cur / cur.sum()
    m = (p + q) / 2.0  # as scipy.spatial.distance.jensenshannon(p, q, base=2)
    divergence = float(np.sum(special.rel_entr(p, m)) + np.sum(special.rel_entr(q, m))) / 2.0
    return math.sqrt(max(divergence, 0.0) / math.log(2.0))


def two_proportion_test(
    successes_reference: int, n_reference: int, successes_current: int, n_current: int
) -> TestResult:
    """Pooled two-proportion z-test, two-sided; the statistic is the difference in shares."""
    if n_reference == 0 or n_current == 0:
        return TestResult(statistic=math.nan, p_value=math.nan)
    p1 = successes_reference / n_reference
    p2 = successes_current / n_current
    pooled = (successes_reference + successes_current) / (n_reference + n_current)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_reference + 1.0 / n_current))
    if se == 0.0:
        return TestResult(statistic=p2 - p1, p_value=1.0)
    z = (p2 - p1) / se
    # 2 * norm.sf(|z|) = erfc(|z| / sqrt(2))
    return TestResult(statistic=p2 - p1, p_value=math.erfc(abs(z) / math.sqrt(2.0)))


def out_of_range_test(outside: int, n_current: int, n_reference: int) -> TestResult:
    """Is the share of current values outside the reference's [min, max] larger than chance?

    If both samples came from one continuous distribution, each current value falls outside
    the reference range with probability 2/(n_reference+1); the p-value is the binomial tail.
    """
    if n_current == 0 or n_reference == 0:
        return TestResult(statistic=math.nan, p_value=math.nan)
    chance = min(1.0, 2.0 / (n_reference + 1))
    # binom.sf(outside - 1, n, chance): P(X >= outside)
    p_value = special.binomial_sf(outside - 1, n_current, chance) if outside > 0 else 1.0
    return TestResult(statistic=outside / n_current, p_value=p_value)


def adjust_pvalues(p_values: Sequence[float], method: str) -> list[float]:
    """Benjamini-Hochberg (`"bh"`) or Bonferroni (`"bonferroni"`) adjusted p-values.

    NaN entries (tests that could not run) stay NaN and do not count as tests.
    """
    values = np.asarray(p_values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    valid = ~np.isnan(values)
    m = int(valid.sum())
    if m == 0:
        return [float(x) for x in out]
    p = values[valid]
    if method == "bonferroni":
        adjusted = np.minimum(p * m, 1.0)
    elif method == "bh":
        order = np.argsort(p)
        ranked = p[order] * m / np.arange(1, m + 1)
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(ranked, 1.0)
    else:
        raise ValueError(f"unknown correction {method!r}")
    out[valid] = adjusted
    return [float(x) for x in out]
