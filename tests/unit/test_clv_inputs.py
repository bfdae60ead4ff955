"""Input rules shared by every model: errors that say what to change, one hierarchy."""

from __future__ import annotations

import numpy as np
import pytest

import clv
from clv import (
    BGNBD,
    CLVError,
    InsufficientDataError,
    InvalidDataError,
    TimeUnitError,
    fit_bgnbd,
    fit_mbgnbd,
    fit_pareto_nbd,
)

MODEL = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks")


@pytest.mark.parametrize(
    ("x", "t_x", "T", "message"),
    [
        ([1, -1], [2, 0], [5, 5], "whole number of repeat purchase days"),
        ([1.5], [2], [5], "whole number of repeat purchase days"),
        ([1], [-2], [5], "cannot be negative"),
        ([0], [0], [-5], "cannot be negative"),
        ([2], [6], [5], "recency t_x is after age T"),
        ([2], [0], [5], "same-day purchases must be collapsed"),
        ([0], [3], [5], "t_x is 0 when x is 0"),
        ([1, np.nan], [2, 0], [5, 5], "missing or infinite"),
        (["one"], [2], [5], "must be numbers"),
    ],
)
def test_invalid_customers_are_rejected_with_the_rule_they_break(x, t_x, T, message):
    with pytest.raises(InvalidDataError, match=message):
        MODEL.p_alive(x, t_x, T)
    with pytest.raises(InvalidDataError, match=message):
        fit_bgnbd(x, t_x, T, time_unit="weeks")


def test_the_offending_row_is_named():
    with pytest.raises(InvalidDataError, match=r"row 2: 7, 5"):
        MODEL.p_alive([1, 1, 1], [1, 2, 7], [5, 5, 5])


def test_negative_horizons_and_weights_are_rejected():
    with pytest.raises(InvalidDataError, match="horizon t must be >= 0"):
        MODEL.expected_purchases(-1, 1, 2, 5)
    with pytest.raises(InvalidDataError, match="weights"):
        fit_bgnbd([1, 0], [2, 0], [5, 5], time_unit="weeks", weights=[1, -1])


@pytest.mark.parametrize("fit", [fit_bgnbd, fit_mbgnbd, fit_pareto_nbd])
def test_dropout_needs_repeat_buyers(fit):
    with pytest.raises(InsufficientDataError, match="no customer has a repeat purchase"):
        fit(np.zeros(50), np.zeros(50), np.linspace(1, 39, 50), time_unit="weeks")


def test_time_units_are_checked_wherever_they_enter():
    with pytest.raises(TimeUnitError, match="'W' is not one of hours, days, weeks, months"):
        BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="W")
    with pytest.raises(TimeUnitError):
        fit_bgnbd([1, 0], [2, 0], [5, 5], time_unit="fortnight")
    with pytest.raises(TimeUnitError):
        MODEL.in_unit("years")


def test_parameters_must_be_positive():
    with pytest.raises(InvalidDataError, match="alpha=-1"):
        BGNBD(r=0.243, alpha=-1, a=0.793, b=2.426, time_unit="weeks")


def test_every_error_is_a_clv_error_and_a_value_error():
    for error in (InvalidDataError, InsufficientDataError, TimeUnitError, clv.ModelError):
        assert issubclass(error, CLVError) and issubclass(error, ValueError)


def test_models_are_frozen():
    with pytest.raises(AttributeError):
        MODEL.r = 1.0  # type: ignore[misc]
