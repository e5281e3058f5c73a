"""Calibration under no drift: per-test false alarms near alpha, dataset-level at most alpha."""

from __future__ import annotations

import numpy as np

from infermedic.drift import stats

ALPHA = 0.05


def _ks_statistics(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two-sample KS D for each row pair, vectorised (rows are replicates)."""
    a, b = np.sort(a, axis=1), np.sort(b, axis=1)
    both = np.concatenate([a, b], axis=1)
    fa = (
        np.stack([np.searchsorted(a[i], both[i], side="right") for i in range(len(a))]) / a.shape[1]
    )
    fb = (
        np.stack([np.searchsorted(b[i], both[i], side="right") for i in range(len(b))]) / b.shape[1]
    )
    return np.asarray(np.max(np.abs(fa - fb), axis=1))


def test_no_drift_pairs_alarm_at_about_alpha() -> None:
    rng = np.random.default_rng(20251123)
    replicates, numeric_cols, n, m = 400, 4, 300, 250
    p_values = np.empty((replicates, numeric_cols + 2))
    for j in range(numeric_cols):
        d = _ks_statistics(rng.normal(size=(replicates, n)), rng.normal(size=(replicates, m)))
        p_values[:, j] = [stats.ks_pvalue(float(x), n, m) for x in d]
    probs = np.array([0.5, 0.25, 0.15, 0.1])
    ref_counts = rng.multinomial(n, probs, size=replicates)
    cur_counts = rng.multinomial(m, probs, size=replicates)
    p_values[:, numeric_cols] = [
        stats.chi2_homogeneity(r.tolist(), c.tolist()).p_value
        for r, c in zip(ref_counts, cur_counts, strict=True)
    ]
    miss_r, miss_c = rng.binomial(n, 0.1, replicates), rng.binomial(m, 0.1, replicates)
    p_values[:, numeric_cols + 1] = [
        stats.two_proportion_test(int(a), n, int(b), m).p_value
        for a, b in zip(miss_r, miss_c, strict=True)
    ]
    per_test_rate = (p_values < ALPHA).mean(axis=0)
    # 400 replicates: a binomial(400, 0.05) rate is 0.05 +- 0.022 (2 sd); KS on discrete D is
    # slightly conservative, so allow it below
    assert np.all(per_test_rate < 0.05 + 0.03), per_test_rate
    assert np.all(per_test_rate > 0.05 - 0.035), per_test_rate
    for method in ("bh", "bonferroni"):
        adjusted = np.array([stats.adjust_pvalues(row.tolist(), method) for row in p_values])
        dataset_rate = (adjusted.min(axis=1) < ALPHA).mean()
        assert dataset_rate <= ALPHA + 0.022, (method, dataset_rate)


def test_goodness_of_fit_form_would_false_alarm_where_homogeneity_does_not() -> None:
    """The reason for the 2xK test: treating reference shares as exact inflates alarms."""
    from scipy import stats as sps

    rng = np.random.default_rng(5)
    probs = np.full(10, 0.1)
    n = 5000
    gof, homogeneity = 0, 0
    for _ in range(200):
        r, c = rng.multinomial(n, probs), rng.multinomial(n, probs)
        gof += sps.chisquare(c, r * c.sum() / r.sum()).pvalue < ALPHA
        homogeneity += stats.chi2_homogeneity(r.tolist(), c.tolist()).p_value < ALPHA
    assert homogeneity / 200 < 0.1
    assert gof / 200 > homogeneity / 200 + 0.05
