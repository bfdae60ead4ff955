"""BG/NBD with one dropout probability p for everyone: its limit as a, b -> infinity, a/(a+b) = p.

A BG/NBD fit on a few weeks of data can find no heterogeneity in dropout: the likelihood keeps
rising as the Beta(a, b) of p narrows to a point, so a and b run off together while their ratio
settles (e.g. a = 1.2e6, b = 3.1e6 on 129 customers of 30 days). The model there is: a Poisson
rate λ ~ Gamma(r, α) while active, a drop out with probability p after each repeat purchase.
`BGNBD.common_dropout_limit` gives it. Given x, t_x, T (λ's posterior given alive is
Gamma(r + x, α + T)):

    odds of being gone  = [x > 0] · p / (1 − p) · ((α + T) / (α + t_x))^(r + x)
    E[Y(t)]             = P(alive) · (1 − ((α + T) / (α + T + p·t))^(r + x)) / p
    P(Y(t) = 0)         = 1 − P(alive) + P(alive) · ((α + T) / (α + T + t))^(r + x)

BG/NBD's closed forms tend to these (the Gauss function 2F1(r+x, b+x; a+b+x−1; z) tends to
(1 − (1 − p) z)^−(r+x)); tests/unit/test_ltv_gate.py checks it numerically.

>>> model = CommonDropout(r=0.243, alpha=4.414, p=0.25, time_unit="weeks")
>>> round(float(model.p_alive(x=2, t_x=30.43, T=38.86)), 4)
0.6485
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit

from clv.errors import InvalidDataError
from clv.inputs import cbs_arrays, check_params, horizon_array
from clv.units import check_unit


@dataclass(frozen=True)
class CommonDropout:
    """Purchase rate shape ``r`` and scale ``alpha`` (per ``time_unit``), dropout probability
    ``p`` in (0, 1] after each repeat purchase, the same for every customer (1 when b ran to 0:
    nobody buys a second repeat time).

    >>> gone = CommonDropout(r=0.5, alpha=9.0, p=1.0, time_unit="days")
    >>> float(gone.p_alive(x=1, t_x=3, T=30)), float(gone.p_alive(x=0, t_x=0, T=30))
    (0.0, 1.0)
    """

    r: float
    alpha: float
    p: float
    time_unit: str

    def __post_init__(self) -> None:
        check_params("BG/NBD common-dropout limit", r=self.r, alpha=self.alpha, p=self.p)
        if not self.p <= 1:  # 1: everyone leaves after their first repeat purchase
            raise InvalidDataError(f"the dropout probability p must be at most 1, not {self.p!r}")
        check_unit(self.time_unit)

    def _log_odds_gone(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):  # p = 1: ln(1 - p) = -inf, gone for sure after x > 0
            log_gone = np.log1p(-self.p)
        log_odds = (
            np.log(self.p)
            - log_gone
            + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
        )
        return np.where(x > 0, log_odds, -np.inf)

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still active at T | x, t_x, T); 1 for x = 0."""
        x, t_x, T = cbs_arrays(x, t_x, T)
        return expit(-self._log_odds_gone(x, t_x, T))[()]

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: P(alive) · (1 − ((α+T)/(α+T+p t))^(r+x)) / p."""
        t = horizon_array(t)
        x, t_x, T = cbs_arrays(x, t_x, T)
        alive = expit(-self._log_odds_gone(x, t_x, T))
        bought = -np.expm1(-(self.r + x) * np.log1p(self.p * t / (self.alpha + T)))
        return (alive * bought / self.p)[()]

    def p_no_purchase(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(Y(t) = 0 | x, t_x, T) = 1 − P(alive) + P(alive) · ((α+T)/(α+T+t))^(r+x)."""
        t = horizon_array(t)
        x, t_x, T = cbs_arrays(x, t_x, T)
        alive = expit(-self._log_odds_gone(x, t_x, T))
        silent = np.exp(-(self.r + x) * np.log1p(t / (self.alpha + T)))
        return (1 - alive + alive * silent)[()]
