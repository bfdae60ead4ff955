"""Gamma-Gamma: Fader & Hardie's CDNOW estimates, the spreadsheet's E[M], and input rules."""

from __future__ import annotations

import numpy as np
import pytest

from clv import GammaGamma, InsufficientDataError, InvalidDataError, ModelError, fit_gamma_gamma
from tests import cdnow

PAPER = {"p": 6.25, "q": 3.74, "gamma": 15.44}  # Fader & Hardie 2013, 946 repeat buyers


@pytest.fixture(scope="module")
def data():
    s = cdnow.summary()
    return s["x"].to_numpy(), s["zbar"].to_numpy()


@pytest.fixture(scope="module")
def fitted(data) -> GammaGamma:
    return fit_gamma_gamma(*data)


def test_cdnow_fit_reproduces_the_published_estimates(fitted):
    for name, published in PAPER.items():
        assert fitted.params[name] == pytest.approx(published, rel=0.005), name
    assert fitted.log_likelihood == pytest.approx(-4055.92, abs=0.1)
    assert fitted.n_customers == 946  # repeat buyers only; the 1,411 one-time buyers are left out
    assert fitted.converged is True


def test_expected_order_value_of_the_first_ten_customers_matches_hardies_spreadsheet(fitted, data):
    x, zbar = data
    expected = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    np.testing.assert_allclose(fitted.expected_order_value(x[:10], zbar[:10]), expected, atol=0.1)


def test_one_time_buyers_get_the_population_mean_whatever_their_zbar(fitted):
    assert fitted.mean_order_value == pytest.approx(
        fitted.p * fitted.gamma / (fitted.q - 1), rel=1e-12
    )
    assert fitted.mean_order_value == pytest.approx(35.17, abs=0.01)  # observed mean zbar: 35.08
    assert np.all(fitted.expected_order_value([0, 0], [0.0, 999.0]) == fitted.mean_order_value)


def test_expected_order_value_shrinks_zbar_towards_the_population_mean(fitted):
    """(q-1)/(px+q-1) of the weight stays on the population mean; less as x grows."""
    zbar = 100.0
    values = fitted.expected_order_value([1, 5, 50], zbar)
    assert np.all(np.diff(values) > 0) and np.all(values < zbar)
    weight_on_mean = (fitted.q - 1) / (fitted.p * 1 + fitted.q - 1)
    assert values[0] == pytest.approx(
        weight_on_mean * fitted.mean_order_value + (1 - weight_on_mean) * zbar, rel=1e-12
    )


def test_fit_needs_enough_repeat_buyers():
    x = np.array([1.0] * 10 + [0.0] * 1000)
    with pytest.raises(InsufficientDataError, match="10, fewer than 30"):
        fit_gamma_gamma(x, np.where(x > 0, 20.0, 0.0))


def test_repeat_buyers_need_a_positive_mean_value():
    with pytest.raises(InvalidDataError, match="positive mean repeat value"):
        fit_gamma_gamma([1, 2, 0], [10.0, -5.0, 0.0])


def test_a_spend_model_without_a_finite_mean_says_so():
    spend = GammaGamma(p=2.0, q=0.9, gamma=10.0)
    with pytest.raises(ModelError, match="no finite mean"):
        spend.mean_order_value  # noqa: B018
    with pytest.raises(ModelError):
        spend.expected_order_value(0, 0.0)
    assert spend.expected_order_value(3, 20.0) == pytest.approx(2 * (10 + 60) / (6 + 0.9 - 1))
