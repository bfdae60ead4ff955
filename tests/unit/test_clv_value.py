"""Discounted CLV: the CDNOW 12-month value, and the unit travelling with the parameters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from clv import BGNBD, GammaGamma, InvalidDataError, clv, fit_bgnbd, fit_gamma_gamma
from clv.units import periods_per_month
from tests import cdnow


@pytest.fixture(scope="module")
def cdnow_fit():
    s = cdnow.summary()
    columns = (s["x"].to_numpy(), s["t_x"].to_numpy(), s["T"].to_numpy(), s["zbar"].to_numpy())
    purchases = fit_bgnbd(*columns[:3], time_unit="weeks")
    spend = fit_gamma_gamma(columns[0], columns[3])
    return purchases, spend, columns


def test_twelve_month_clv_of_cdnow_at_one_percent_a_month(cdnow_fit):
    """ltv.md §6: 30.34 averaged over all 2,357 customers (one-time buyers at E(Z)).

    The reference sums lifetimes-style months of 4.345 weeks (30.339); `clv.units` uses one
    calendar, 365.25 / 12 days = 4.348 weeks a month, which gives 30.357.
    """
    purchases, spend, columns = cdnow_fit
    values = clv(purchases, spend, *columns, months=12, monthly_discount_rate=0.01)
    assert values.shape == (2357,)
    assert values.mean() == pytest.approx(30.34, abs=0.05)


def test_weekly_parameters_read_as_daily_inflate_clv(cdnow_fit):
    """The pitfall: the same numbers labelled as days forecast 30.4 'weeks' per month."""
    purchases, spend, columns = cdnow_fit
    mislabelled = dataclasses.replace(purchases, time_unit="days")
    wrong = clv(mislabelled, spend, *columns).mean()
    # lifetimes' freq="D" default gives 113.12 (it counts 30 days a month, not 30.44)
    assert wrong == pytest.approx(114.05, abs=0.05)
    assert abs(wrong - 30.34) > 80


def test_the_same_customers_in_days_get_the_same_value(cdnow_fit):
    purchases, spend, (x, t_x, T, zbar) = cdnow_fit
    weekly = clv(purchases, spend, x, t_x, T, zbar)
    converted_model = clv(purchases.in_unit("days"), spend, x, t_x * 7, T * 7, zbar)
    converted_data = clv(purchases, spend, x, t_x * 7, T * 7, zbar, time_unit="days")
    np.testing.assert_allclose(converted_model, weekly, rtol=1e-10)
    np.testing.assert_allclose(converted_data, weekly, rtol=1e-10)


def test_without_discounting_clv_is_order_value_times_expected_purchases():
    purchases = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks")
    spend = GammaGamma(p=6.25, q=3.74, gamma=15.44)
    value = clv(purchases, spend, 2, 30.43, 38.86, 22.35, months=6, monthly_discount_rate=0.0)
    horizon = 6 * periods_per_month("weeks")
    expected = spend.expected_order_value(2, 22.35) * purchases.expected_purchases(
        horizon, 2, 30.43, 38.86
    )
    assert value == pytest.approx(expected, rel=1e-12)
    assert clv(purchases, spend, 2, 30.43, 38.86, 22.35, months=0) == 0


def test_discounting_lowers_value_month_by_month():
    purchases = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks")
    spend = GammaGamma(p=6.25, q=3.74, gamma=15.44)
    values = [
        clv(purchases, spend, 2, 30.43, 38.86, 22.35, monthly_discount_rate=d)
        for d in (0, 0.01, 0.05)
    ]
    assert values[0] > values[1] > values[2] > 0


def test_horizon_and_rate_are_checked():
    purchases = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks")
    spend = GammaGamma(p=6.25, q=3.74, gamma=15.44)
    with pytest.raises(InvalidDataError, match="whole number of months"):
        clv(purchases, spend, 2, 30.43, 38.86, 22.35, months=1.5)
    with pytest.raises(InvalidDataError, match="monthly_discount_rate"):
        clv(purchases, spend, 2, 30.43, 38.86, 22.35, monthly_discount_rate=-1.0)


def test_any_purchase_model_with_a_unit_can_be_valued():
    """Pareto/NBD and MBG/NBD value one-time buyers below BG/NBD, which deems them all alive."""
    from clv import MBGNBD, ParetoNBD

    spend = GammaGamma(p=6.25, q=3.74, gamma=15.44)
    models = [
        BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks"),
        ParetoNBD(r=0.553, alpha=10.578, s=0.606, beta=11.669, time_unit="weeks"),
        MBGNBD(r=0.525, alpha=6.183, a=0.891, b=1.614, time_unit="weeks"),
    ]
    silent = [float(clv(m, spend, 0, 0, 38.86, 0)) for m in models]  # one purchase, 39 weeks ago
    assert silent[0] > silent[1] > 0 and silent[0] > silent[2] > 0
