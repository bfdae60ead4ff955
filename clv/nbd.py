"""NBD (Ehrenberg 1959): buy at a Poisson rate λ ~ Gamma(r, α) for ever, nobody drops out.

It is BG/NBD's limit when the dropout probability's mean a / (a + b) tends to 0, where a
maximum-likelihood BG/NBD fit ends when the data show no dropout (a young store, one week of
history): `BGNBD.no_dropout_limit`. Given x purchases in (0, T], λ's posterior is
Gamma(r + x, α + T), so

    E[Y(t) | x, T] = (r + x) / (α + T) · t,   P(Y(t) = 0 | x, T) = ((α + T) / (α + T + t))^(r + x),

and P(alive) = 1. t_x does not enter (a Poisson process forgets when it last fired).

>>> model = NBD(r=0.243, alpha=4.414, time_unit="weeks")
>>> round(float(model.expected_purchases(39, x=2, t_x=30.43, T=38.86)), 4)
2.0215
>>> round(float(model.p_no_purchase(39, x=0, t_x=0, T=38.86)), 4)
0.8554
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from clv.inputs import cbs_arrays, check_params, horizon_array
from clv.units import check_unit


@dataclass(frozen=True)
class NBD:
    """NBD parameters: purchase rate shape ``r`` and scale ``alpha`` (per ``time_unit``)."""

    r: float
    alpha: float
    time_unit: str

    def __post_init__(self) -> None:
        check_params("NBD", r=self.r, alpha=self.alpha)
        check_unit(self.time_unit)

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T] = (r + x) / (α + T) · t."""
        t = horizon_array(t)
        x, _, T = cbs_arrays(x, t_x, T)
        return ((self.r + x) / (self.alpha + T) * t)[()]

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """1: nobody drops out."""
        x, _, _ = cbs_arrays(x, t_x, T)
        return np.ones_like(x)[()]

    def p_no_purchase(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(Y(t) = 0 | x, t_x, T) = ((α + T) / (α + T + t))^(r + x)."""
        t = horizon_array(t)
        x, _, T = cbs_arrays(x, t_x, T)
        return np.exp(-(self.r + x) * np.log1p(t / (self.alpha + T)))[()]
