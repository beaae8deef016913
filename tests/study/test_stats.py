"""The confidence intervals of the aggregate table: Student t quantiles computed without
SciPy, checked against printed tables (and SciPy when it is installed)."""

from __future__ import annotations

import math
import statistics

import pytest

from hmipv6.study.stats import betainc, summarize, t_cdf, t_quantile

# t(0.975, df) from a printed Student-t table (4 significant digits after the point).
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 10: 2.228,
           19: 2.093, 29: 2.045, 30: 2.042, 60: 2.000, 120: 1.980}


@pytest.mark.parametrize(("df", "expected"), sorted(T_TABLE.items()))
def test_t_quantile_matches_the_printed_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=6e-4)


def test_t_quantile_tends_to_the_normal_quantile() -> None:
    assert t_quantile(0.975, 10**7) == pytest.approx(1.959964, abs=1e-5)


def test_t_quantile_is_symmetric_and_inverts_the_cdf() -> None:
    for df in (1, 3, 7.5, 40):
        for p in (0.6, 0.9, 0.975, 0.999):
            q = t_quantile(p, df)
            assert t_quantile(1 - p, df) == pytest.approx(-q, rel=1e-12)
            assert t_cdf(q, df) == pytest.approx(p, abs=1e-13)
    assert t_quantile(0.5, 4) == 0.0


def test_t_quantile_agrees_with_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 13, 100, 1000):
        for p in (0.55, 0.9, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(float(scipy_stats.t.ppf(p, df)), rel=1e-12)


def test_betainc_closed_forms() -> None:
    # I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b
    for x in (0.0, 0.1, 0.5, 0.93, 1.0):
        assert betainc(1, 1, x) == pytest.approx(x, abs=1e-14)
        assert betainc(3, 1, x) == pytest.approx(x**3, abs=1e-14)
        assert betainc(1, 4, x) == pytest.approx(1 - (1 - x) ** 4, abs=1e-14)
    with pytest.raises(ValueError):
        betainc(0, 1, 0.5)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)


def test_summary_against_a_hand_computation() -> None:
    values = [0.1133, 0.0933, 0.1533, 0.1333]
    s = summarize(values)
    mean = sum(values) / 4
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)
    assert s.n == 4
    assert s.mean == pytest.approx(mean, rel=1e-15)
    assert s.sd == pytest.approx(sd, rel=1e-12)
    assert s.sd == pytest.approx(statistics.stdev(values), rel=1e-12)
    assert s.half == pytest.approx(3.182 * sd / 2, rel=2e-4)  # t(0.975, 3) from the table
    assert (s.low, s.high) == (s.mean - s.half, s.mean + s.half)


def test_summary_of_one_value_has_no_interval_and_constant_values_a_zero_one() -> None:
    one = summarize([5.0])
    assert one.mean == 5.0 and math.isnan(one.sd) and math.isnan(one.half)
    flat = summarize([7.0, 7.0, 7.0])
    assert (flat.mean, flat.sd, flat.half) == (7.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        summarize([])


def test_summary_does_not_depend_on_the_order_of_runs() -> None:
    values = [0.1 * i + 1e-17 * (i % 3) for i in range(1, 30)]
    assert summarize(values) == summarize(list(reversed(values)))
