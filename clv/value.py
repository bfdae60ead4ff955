"""Discounted customer lifetime value over a horizon in months; ltv.md §6.

    CLV = Σ_{m=1..H} E[M | zbar, x] · (E[Y(m·f) | x, t_x, T] − E[Y((m−1)·f) | x, t_x, T]) / (1 + d)^m

with ``f`` the purchase model's time units per month (`clv.units.periods_per_month`), H the
horizon in months and d the *monthly* discount rate. The unit comes from the model, never from a
default: the classic mistake (lifetimes' ``freq="D"`` default on a weekly fit) reads 30 days
per month as 30 *weeks* and values CDNOW at 113.12 instead of 30.34.

>>> from clv.bgnbd import BGNBD
>>> from clv.gamma_gamma import GammaGamma
>>> purchases = BGNBD(r=0.2426, alpha=4.4135, a=0.7929, b=2.4259, time_unit="weeks")
>>> spend = GammaGamma(p=6.2488, q=3.7446, gamma=15.4477)
>>> round(float(clv(purchases, spend, x=2, t_x=30.43, T=38.86, zbar=22.35)), 2)
36.3
>>> daily = purchases.in_unit("days")  # the same model in days values the customer the same
>>> round(float(clv(daily, spend, x=2, t_x=30.43 * 7, T=38.86 * 7, zbar=22.35)), 2)
36.3
>>> mislabelled = BGNBD(**purchases.params, time_unit="days")  # weekly numbers called daily
>>> round(float(clv(mislabelled, spend, x=2, t_x=30.43, T=38.86, zbar=22.35)), 2)
141.27
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from clv.errors import InvalidDataError
from clv.gamma_gamma import GammaGamma
from clv.inputs import cbs_arrays
from clv.units import check_unit, conversion_factor, periods_per_month


class PurchaseModel(Protocol):
    """What `clv` needs from a purchase model: its time unit and E[Y(t) | x, t_x, T]."""

    time_unit: str

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> np.ndarray: ...


def clv(
    purchases: PurchaseModel,
    spend: GammaGamma,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    zbar: ArrayLike,
    *,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    time_unit: str | None = None,
) -> np.ndarray:
    """Discounted expected value of each customer's purchases over the next ``months``.

    ``t_x`` and ``T`` are in ``time_unit``, by default the purchase model's; give it when they
    are not (e.g. a weekly model and ages in days) and they are converted. Customers with x = 0
    are valued at the population mean order value.
    """
    if not (isinstance(months, int | np.integer) and months >= 0):
        raise InvalidDataError(f"months is a whole number of months >= 0, not {months!r}")
    if not (np.isfinite(monthly_discount_rate) and monthly_discount_rate > -1):
        raise InvalidDataError(
            f"monthly_discount_rate must be a rate > -1 (0.01 is 1 % a month), not "
            f"{monthly_discount_rate!r}"
        )
    x, t_x, T = cbs_arrays(x, t_x, T)
    if time_unit is not None and check_unit(time_unit) != purchases.time_unit:
        factor = conversion_factor(time_unit, purchases.time_unit)
        t_x, T = t_x * factor, T * factor
    order_value = spend.expected_order_value(x, zbar)
    per_month = periods_per_month(purchases.time_unit)
    discounted = np.zeros(np.broadcast(x, order_value).shape)
    previous = np.zeros_like(discounted)
    for month in range(1, months + 1):  # a loop over months; customers stay vectorised
        cumulative = purchases.expected_purchases(month * per_month, x, t_x, T)
        discounted += (cumulative - previous) / (1 + monthly_discount_rate) ** month
        previous = cumulative
    return (order_value * discounted)[()]
