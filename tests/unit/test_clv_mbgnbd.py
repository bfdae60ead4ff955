"""MBG/NBD: CDNOW estimates (BTYDplus via lifetimes' tests) and the one-time-buyer fix."""

from __future__ import annotations

import pytest

from clv import MBGNBD, fit_mbgnbd
from tests import cdnow

BTYDPLUS = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
MODEL = MBGNBD(**BTYDPLUS, time_unit="weeks")


def test_cdnow_fit_reproduces_the_published_estimates():
    s = cdnow.summary()
    fitted = fit_mbgnbd(s["x"], s["t_x"], s["T"], time_unit="weeks")
    for name, published in BTYDPLUS.items():
        assert round(fitted.params[name], 3) == published, name
    assert fitted.log_likelihood == pytest.approx(-9582.13, abs=0.01)
    assert fitted.converged is True


def test_one_time_buyers_can_be_dead():
    assert MODEL.p_alive(0, 0, 38.86) == pytest.approx(0.390, abs=0.001)  # BG/NBD says 1.0


def test_expectations_at_the_published_estimate():
    assert MODEL.expected_purchases_new(39) == pytest.approx(1.1830, abs=1e-4)
    assert MODEL.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.2630, abs=1e-4)
