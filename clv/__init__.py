"""Customer lifetime value: buy-till-you-die purchase models, Gamma-Gamma spend, discounted CLV.

numpy/scipy only; each module cites the paper its formulas come from. Every purchase model
stores the time unit its parameters are in, and CLV horizons are given in months.

>>> import clv
>>> purchases = clv.BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks")
>>> spend = clv.GammaGamma(p=6.25, q=3.74, gamma=15.44)
>>> round(float(clv.clv(purchases, spend, x=2, t_x=30.43, T=38.86, zbar=22.35)), 1)
36.3

Fitting: ``clv.fit_bgnbd(x, t_x, T, time_unit="weeks")`` and ``clv.fit_gamma_gamma(x, zbar)``
on the output of ``clv.summary(transactions, calibration_end=..., time_unit="weeks")``.
"""

from __future__ import annotations

from clv.bgnbd import BGNBD, fit_bgnbd, simulate_bgnbd
from clv.common_dropout import CommonDropout
from clv.errors import (
    CLVError,
    InsufficientDataError,
    InvalidDataError,
    ModelError,
    TimeUnitError,
)
from clv.gamma_gamma import GammaGamma, fit_gamma_gamma
from clv.mbgnbd import MBGNBD, fit_mbgnbd
from clv.nbd import NBD
from clv.pareto_nbd import ParetoNBD, fit_pareto_nbd
from clv.summary import summary
from clv.units import TIME_UNITS, periods_per_month
from clv.value import PurchaseModel, clv

__all__ = [
    "BGNBD",
    "MBGNBD",
    "NBD",
    "TIME_UNITS",
    "CLVError",
    "CommonDropout",
    "GammaGamma",
    "InsufficientDataError",
    "InvalidDataError",
    "ModelError",
    "ParetoNBD",
    "PurchaseModel",
    "TimeUnitError",
    "clv",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_mbgnbd",
    "fit_pareto_nbd",
    "periods_per_month",
    "simulate_bgnbd",
    "summary",
]
