"""The few special functions drift's p-values need, without importing scipy.

Importing `scipy.special` costs ~0.3-0.4 s of CPU (it pulls scipy's array-API layer, which
touches every lazily loaded numpy submodule): more than comparing a saved profile with a
million current rows spends on its data. Each function here has the definition of the
scipy function it names, and the tests pin each against scipy on a grid:

- `kolmogorov(x)`: `scipy.special.kolmogorov`, the limiting Kolmogorov survival function.
- `chi2_sf(dof, x)`: `scipy.special.chdtrc`, the chi-square upper tail, as the regularised
  upper incomplete gamma Q(dof/2, x/2) (series below a+1, Lentz's continued fraction above).
- `binomial_sf(k, n, p)`: `scipy.special.bdtrc`, P(X > k) for X ~ Binomial(n, p), as the
  regularised incomplete beta I_p(k+1, n-k) by its continued fraction.
- `log_factorials(n)`: `scipy.special.gammaln(arange(n+1) + 1)`.
- `rel_entr(x, y)`: `scipy.special.rel_entr`, elementwise x*log(x/y).

Series and continued fractions run to double precision (relative step below 1e-16); the
prefactors are exp of sums of `math.lgamma` terms, so at very large arguments (a, b near
1e6) the result carries a relative error of about |a|*1e-16, far below any decision's
resolution.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

_EPS = 1e-16
_TINY = 1e-300
_MAX_STEPS = 100_000


def kolmogorov(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution K = sup|B(t)| of a Brownian bridge."""
    if math.isnan(x):
        return math.nan
    if x <= 0.0:
        return 1.0
    if x < 1.0:
        # 1 - sqrt(2 pi)/x * sum exp(-(2k-1)^2 pi^2 / (8 x^2)): fast where the other is slow
        w = math.pi * math.pi / (8.0 * x * x)
        total = 0.0
        for k in range(1, 50):
            term = math.exp(-((2 * k - 1) ** 2) * w)
            total += term
            if term <= _EPS * total:
                break
        return 1.0 - math.sqrt(2.0 * math.pi) / x * total
    total = 0.0
    for k in range(1, 50):
        term = math.exp(-2.0 * k * k * x * x)
        total += term if k % 2 else -term
        if term <= _EPS * abs(total):
            break
    return max(0.0, min(1.0, 2.0 * total))


def chi2_sf(dof: float, x: float) -> float:
    """P(X > x) for X chi-square with `dof` degrees of freedom."""
    if math.isnan(x) or dof <= 0:
        return math.nan
    if x <= 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    return _gamma_q(dof / 2.0, x / 2.0)


def _gamma_q(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function Q(a, x), a > 0, x > 0."""
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        # P(a, x) = e^-x x^a / Gamma(a+1) * sum x^k / ((a+1)...(a+k))
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_STEPS):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    # Q(a, x) = e^-x x^a / Gamma(a) * 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...)))
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_STEPS):
        b += 2.0
        c, d, delta = _lentz_step(-i * (i - a), b, c, d)
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return min(1.0, math.exp(log_front) * h)


def _lentz_step(an: float, bn: float, c: float, d: float) -> tuple[float, float, float]:
    """One step of the modified Lentz method for a continued fraction b0 + a1/(b1 + a2/...):
    the new C and D, and the factor the running value is multiplied by."""
    d = bn + an * d
    d = _TINY if abs(d) < _TINY else d
    c = bn + an / c
    c = _TINY if abs(c) < _TINY else c
    d = 1.0 / d
    return c, d, d * c


def binomial_sf(k: float, n: int, p: float) -> float:
    """P(X > k) for X ~ Binomial(n, p) (k floored, as scipy's `bdtrc`)."""
    if math.isnan(k) or math.isnan(p) or not 0.0 <= p <= 1.0:
        return math.nan
    j = math.floor(k)
    if j < 0:
        return 1.0
    if j >= n:
        return 0.0
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    return _beta_inc(j + 1.0, float(n - j), p)


def _beta_inc(a: float, b: float, x: float) -> float:
    """I_x(a, b) for integer a = k+1, b = n-k (a binomial tail), 0 < x < 1."""
    # x^a (1-x)^b / B(a, b) = a (1-x) P(X = a) for X ~ Binomial(a+b-1, x): Loader's form of
    # the probability keeps full precision where lgamma differences of ~1e7 would not
    front = a * (1.0 - x) * _binomial_pmf(int(a), int(a + b - 1), x)
    # the continued fraction converges fast below the mean a/(a+b); above it, by symmetry
    if x < (a + 1.0) / (a + b + 2.0):
        return min(1.0, front * _beta_fraction(a, b, x) / a)
    return max(0.0, 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b)


def _binomial_pmf(k: int, n: int, p: float) -> float:
    """P(X = k) for X ~ Binomial(n, p), 0 < p < 1, by Loader's saddle-point expansion
    ("Fast and accurate computation of binomial probabilities", 2000), as scipy and R do."""
    q = 1.0 - p
    if k == 0:
        return math.exp(n * math.log1p(-p))
    if k == n:
        return math.exp(n * math.log(p))
    log_core = (
        _stirling_error(n)
        - _stirling_error(k)
        - _stirling_error(n - k)
        - _deviance(k, n * p)
        - _deviance(n - k, n * q)
    )
    return math.exp(log_core) * math.sqrt(n / (2.0 * math.pi * k * (n - k)))


def _stirling_error(n: int) -> float:
    """log(n!) - log(sqrt(2 pi n) (n/e)^n)."""
    if n <= 15:
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - 0.5 * math.log(2 * math.pi)
    nn = float(n) * n
    return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * nn)) / nn) / nn) / nn) / n


def _deviance(x: float, mean: float) -> float:
    """x log(x/mean) + mean - x, without cancellation when x is near the mean."""
    if abs(x - mean) < 0.1 * (x + mean):
        v = (x - mean) / (x + mean)
        s = (x - mean) * v
        ej = 2.0 * x * v
        v *= v
        for j in range(1, 1000):
            ej *= v
            s_next = s + ej / (2 * j + 1)
            if s_next == s:
                break
            s = s_next
        return s
    return x * math.log(x / mean) + mean - x


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, _MAX_STEPS):
        m2 = 2 * m
        for an in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            c, d, delta = _lentz_step(an, 1.0, c, d)
            h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def log_factorials(n: int) -> FloatArray:
    """log(k!) for k = 0..n."""
    return np.fromiter(map(math.lgamma, range(1, n + 2)), dtype=np.float64, count=n + 1)


def rel_entr(x: FloatArray, y: FloatArray) -> FloatArray:
    """x*log(x/y) where both are positive, 0 where x == 0 <= y, inf elsewhere."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    out = np.full(np.broadcast(x, y).shape, np.inf)
    both = (x > 0) & (y > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[both] = (x * np.log(x / y))[both]
    out[(x == 0) & (y >= 0)] = 0.0
    out[np.isnan(x) | np.isnan(y)] = np.nan
    return out
