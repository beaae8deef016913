"""Sample statistics of a study's runs: mean, standard deviation and the Student-t 95 %
confidence interval of the mean.

Theory of operation
-------------------
Runs with different seeds are independent replications, so a point's metric is summarised
over its runs (one value per run): ``mean``, the sample standard deviation ``sd`` (divisor
n - 1) and the half width ``t(0.975, n - 1) * sd / sqrt(n)`` of the two-sided 95 % interval.
Sums use :func:`math.fsum` (exactly rounded), so the result does not depend on the order the
runs finished in. The t quantile is computed here (no SciPy): the Student-t CDF is
``1 - I_x(n/2, 1/2) / 2`` with ``x = n / (n + t^2)`` for ``t >= 0``, where ``I`` is the
regularised incomplete beta function (evaluated by its continued fraction, Numerical Recipes
§6.4, with the modified Lentz method), and the quantile is found by bisection to machine
precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CONFIDENCE", "Summary", "betainc", "summarize", "t_cdf", "t_quantile"]

CONFIDENCE = 0.95
"""Two-sided confidence level of the intervals in the aggregate table."""

_EPS = 1e-16
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            delta = d * c
            h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0) or not 0.0 <= x <= 1.0:
        raise ValueError(f"betainc({a}, {b}, {x}): need a, b > 0 and 0 <= x <= 1")
    if x in (0.0, 1.0):
        return x
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (0 < p < 1)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be between 0 and 1, got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if p == 0.5:
        return 0.0
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            break
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True, slots=True)
class Summary:
    """One metric over n runs. ``sd`` and the interval are NaN when n < 2."""

    n: int
    mean: float
    sd: float
    half: float
    """Half width of the two-sided :data:`CONFIDENCE` interval of the mean."""

    @property
    def low(self) -> float:
        return self.mean - self.half

    @property
    def high(self) -> float:
        return self.mean + self.half


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, standard deviation and confidence half width of ``values`` (at least one)."""
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarise")
    if min(values) == max(values):  # exactly, not to the last bit of fsum(values) / n
        return Summary(n, values[0], math.nan if n < 2 else 0.0, math.nan if n < 2 else 0.0)
    mean = math.fsum(values) / n
    if n < 2:
        return Summary(n, mean, math.nan, math.nan)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, sd, half)
