"""CBS summary from transactions: CDNOW's published summary, and the counting rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clv import InvalidDataError, TimeUnitError, fit_bgnbd, summary
from tests import cdnow


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    return summary(cdnow.transactions(), calibration_end=cdnow.CALIBRATION_END, time_unit="weeks")


def test_cdnow_transactions_reproduce_the_published_summary(cdnow_summary):
    published = cdnow.summary().set_index("ID")
    assert cdnow_summary.index.tolist() == published.index.tolist()  # all 2,357 customers
    assert (cdnow_summary["frequency"] == published["x"]).all()
    # The published file is rounded to 2 dp.
    np.testing.assert_allclose(cdnow_summary["recency"], published["t_x"], atol=0.01)
    np.testing.assert_allclose(cdnow_summary["T"], published["T"], atol=0.01)
    np.testing.assert_allclose(cdnow_summary["monetary_value"], published["zbar"], atol=0.01)
    assert cdnow_summary["frequency"].sum() == 2457
    assert cdnow_summary["T"].max() == pytest.approx(272 / 7)  # 1997-01-01 .. 1997-09-30


def test_transactions_to_fit_gives_the_published_bgnbd(cdnow_summary):
    fitted = fit_bgnbd(
        cdnow_summary["frequency"], cdnow_summary["recency"], cdnow_summary["T"], time_unit="weeks"
    )
    for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert fitted.params[name] == pytest.approx(published, rel=0.005), name


LOG = pd.DataFrame(
    {
        "customer_id": ["a", "a", "a", "a", "a", "b", "c"],
        "date": pd.to_datetime(
            [
                "2024-01-01 09:00",
                "2024-01-01 18:00",  # same day as the first purchase: not a repeat
                "2024-01-08 10:00",
                "2024-01-08 11:00",  # two purchases, one repeat day worth 30 + 10
                "2024-02-01 00:00",  # after the calibration end: ignored
                "2024-01-10 12:00",
                "2024-02-03 12:00",  # first purchase after the end: no row for c
            ]
        ),
        "amount": [5.0, 5.0, 30.0, 10.0, 99.0, 7.0, 3.0],
    }
)


def test_same_day_purchases_collapse_and_later_ones_are_ignored():
    s = summary(LOG, calibration_end="2024-01-15", time_unit="days")
    assert s.index.tolist() == ["a", "b"]
    assert s.loc["a"].to_dict() == {
        "frequency": 1,
        "recency": 7.0,
        "T": 14.0,
        "monetary_value": 40.0,
    }
    assert s.loc["b"].to_dict() == {"frequency": 0, "recency": 0.0, "T": 5.0, "monetary_value": 0.0}


def test_durations_follow_the_requested_unit():
    days = summary(LOG, calibration_end="2024-01-15", time_unit="days")
    weeks = summary(LOG, calibration_end="2024-01-15", time_unit="weeks")
    np.testing.assert_allclose(weeks[["recency", "T"]] * 7, days[["recency", "T"]])
    with pytest.raises(TimeUnitError, match="fortnights"):
        summary(LOG, calibration_end="2024-01-15", time_unit="fortnights")


def test_missing_columns_are_named():
    with pytest.raises(InvalidDataError, match="'revenue'"):
        summary(LOG, calibration_end="2024-01-15", time_unit="days", amount_col="revenue")
    no_amount = summary(LOG, calibration_end="2024-01-15", time_unit="days", amount_col=None)
    assert list(no_amount.columns) == ["frequency", "recency", "T"]
