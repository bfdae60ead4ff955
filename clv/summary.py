"""Customer-by-sufficient-statistic (CBS) summary of a transaction log; analytics.md §7.

Per customer, over the calibration period (up to and including ``calibration_end``):

- ``frequency`` x: number of *repeat purchase days*: purchases on one day count once, and the
  first purchase day is not counted;
- ``recency`` t_x: first purchase day to last purchase day (0 when x = 0);
- ``T``: first purchase day to ``calibration_end``;
- ``monetary_value`` z̄: mean amount of the repeat purchase days (amounts within a day summed;
  the first day excluded), 0 when x = 0.

Durations are whole days converted to ``time_unit``. On CDNOW this reproduces the summary file
that ships with lifetimes (``cdnow_customers_summary_with_transactions.csv``).

>>> import pandas as pd
>>> log = pd.DataFrame({
...     "customer_id": [1, 1, 1, 1, 2],
...     "date": ["1997-01-01", "1997-01-01", "1997-01-15", "1997-01-29", "1997-01-08"],
...     "amount": [10.0, 5.0, 20.0, 30.0, 9.0],
... })
>>> summary(log, calibration_end="1997-01-29", time_unit="weeks")  # doctest: +NORMALIZE_WHITESPACE
             frequency  recency    T  monetary_value
customer_id
1                    2      4.0  4.0            25.0
2                    0      0.0  3.0             0.0
"""

from __future__ import annotations

import pandas as pd

from clv.errors import InvalidDataError
from clv.units import days_per_unit


def summary(
    transactions: pd.DataFrame,
    *,
    calibration_end: str | pd.Timestamp,
    time_unit: str,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = "amount",
) -> pd.DataFrame:
    """One row per customer who bought by ``calibration_end``: frequency, recency, T, monetary.

    ``date_col`` may hold dates, timestamps (their calendar day is used, in their own time
    zone) or ISO strings. ``amount_col=None`` leaves out ``monetary_value``. Transactions after
    ``calibration_end`` are ignored, as are customers whose first purchase is after it.
    """
    unit_days = days_per_unit(time_unit)
    needed = [customer_col, date_col] + ([amount_col] if amount_col is not None else [])
    missing = [c for c in needed if c not in transactions.columns]
    if missing:
        raise InvalidDataError(
            f"transactions have no column {', '.join(map(repr, missing))} (columns: "
            f"{', '.join(map(str, transactions.columns))}); pass customer_col=, date_col=, "
            "amount_col="
        )
    frame = transactions[needed]
    if frame[[customer_col, date_col]].isna().any().any():
        raise InvalidDataError(
            f"transactions have missing {customer_col!r} or {date_col!r} values; drop them first"
        )
    try:
        day = pd.to_datetime(frame[date_col]).dt.normalize()
    except (TypeError, ValueError) as error:
        raise InvalidDataError(f"{date_col!r} does not hold dates: {error}") from None
    end = pd.Timestamp(calibration_end)
    if day.dt.tz is not None and end.tz is None:
        end = end.tz_localize(day.dt.tz)
    end = end.normalize()

    amount = frame[amount_col] if amount_col is not None else pd.Series(0.0, index=frame.index)
    keep = (day <= end).to_numpy()
    days = (
        pd.DataFrame(
            {"customer": frame[customer_col][keep], "day": day[keep], "amount": amount[keep]}
        )
        .groupby(["customer", "day"], sort=True)["amount"]
        .sum()
        .reset_index()
    )  # one row per purchase day, in date order within each customer
    per_customer = days.groupby("customer", sort=True)
    first_day = per_customer["day"].min()
    frequency = per_customer.size() - 1
    one_day = pd.Timedelta(days=1)
    result = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (per_customer["day"].max() - first_day) / one_day / unit_days,
            "T": (end - first_day) / one_day / unit_days,
        }
    )
    if amount_col is not None:
        repeat_amount = per_customer["amount"].sum() - per_customer["amount"].first()
        result["monetary_value"] = (repeat_amount / frequency.where(frequency > 0)).fillna(0.0)
    result.index.name = customer_col
    return result
