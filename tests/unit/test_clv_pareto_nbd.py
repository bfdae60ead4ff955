"""Pareto/NBD: CDNOW estimates (FHL 2005 / CLVTools) and predictions at the CLVTools estimate."""

from __future__ import annotations

import numpy as np
import pytest

from clv import ParetoNBD, fit_pareto_nbd
from tests import cdnow

CLVTOOLS = ParetoNBD(r=0.55315, alpha=10.57633, s=0.60625, beta=11.67150, time_unit="weeks")


@pytest.fixture(scope="module")
def data():
    s = cdnow.summary()
    return s["x"].to_numpy(), s["t_x"].to_numpy(), s["T"].to_numpy()


def test_cdnow_fit_reproduces_the_published_estimates(data):
    fitted = fit_pareto_nbd(*data, time_unit="weeks")
    assert fitted.log_likelihood == pytest.approx(-9595.0, abs=0.1)
    assert fitted.r == pytest.approx(0.553, abs=0.005)
    assert fitted.alpha == pytest.approx(10.578, abs=0.01)
    assert fitted.s == pytest.approx(0.606, abs=0.005)
    # The likelihood is flat along s/beta: beta lands anywhere in 11.66-11.67.
    assert fitted.beta == pytest.approx(11.669, abs=0.05)
    assert fitted.converged is True


def test_log_likelihood_at_the_clvtools_estimate(data):
    assert CLVTOOLS.log_likelihood_of(*data).sum() == pytest.approx(-9594.976, abs=0.01)


def test_predictions_at_the_clvtools_estimate():
    assert CLVTOOLS.p_alive(2, 30.43, 38.86) == pytest.approx(0.8691, abs=1e-4)
    assert CLVTOOLS.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.4551, abs=1e-4)
    assert CLVTOOLS.expected_purchases_new(39) == pytest.approx(1.2134, abs=1e-4)


def test_one_time_buyers_fade_with_silence_unlike_bgnbd():
    p = CLVTOOLS.p_alive([0, 0, 0], [0, 0, 0], [1.0, 39.0, 100.0])
    assert 1 > p[0] > p[1] > p[2] > 0


def test_the_alpha_below_beta_branch_agrees_with_the_alpha_above_beta_branch():
    """A0 has two hypergeometric forms; on either side of alpha = beta they meet."""
    x, t_x, T = np.array([0.0, 1.0, 5.0, 40.0]), np.array([0.0, 3.0, 20.0, 35.0]), np.full(4, 38.86)
    below = ParetoNBD(r=0.55, alpha=11.0 - 1e-7, s=0.6, beta=11.0, time_unit="weeks")
    above = ParetoNBD(r=0.55, alpha=11.0 + 1e-7, s=0.6, beta=11.0, time_unit="weeks")
    np.testing.assert_allclose(below.p_alive(x, t_x, T), above.p_alive(x, t_x, T), rtol=1e-6)
    np.testing.assert_allclose(
        below.log_likelihood_of(x, t_x, T), above.log_likelihood_of(x, t_x, T), rtol=1e-6
    )


def test_predictions_stay_finite_for_customers_with_thousands_of_purchases():
    x, t_x, T = np.array([3000.0, 3000.0]), np.array([30.0, 38.8]), np.full(2, 38.86)
    for model in (CLVTOOLS, ParetoNBD(r=0.55, alpha=12.0, s=0.6, beta=10.0, time_unit="weeks")):
        assert np.isfinite(model.log_likelihood_of(x, t_x, T)).all()
        p = model.p_alive(x, t_x, T)
        assert p[0] < 1e-100 and p[1] > 0.5


def test_s_equal_to_one_is_the_logarithmic_limit():
    at_one = ParetoNBD(r=0.5, alpha=10.0, s=1.0, beta=12.0, time_unit="weeks")
    near = ParetoNBD(r=0.5, alpha=10.0, s=1.0 + 1e-9, beta=12.0, time_unit="weeks")
    assert at_one.expected_purchases_new(39) == pytest.approx(0.5 * 12 / 10 * np.log(51 / 12))
    assert at_one.expected_purchases_new(39) == pytest.approx(near.expected_purchases_new(39))
