"""Modified BG/NBD (Batislam, Denizel & Filiztekin 2007); ltv.md §3.

BG/NBD with one change: a customer may also drop out right after the *first* purchase, so
one-time buyers can be dead. That fixes BG/NBD's P(alive | x = 0) = 1 quirk, which makes
BG/NBD's P(alive) worse than random as a churn score on CDNOW (analytics.md §8: AUC 0.32;
MBG/NBD 0.69).

>>> from clv.mbgnbd import MBGNBD
>>> model = MBGNBD(r=0.525, alpha=6.183, a=0.891, b=1.614, time_unit="weeks")  # CDNOW, BTYDplus
>>> round(float(model.p_alive(x=0, t_x=0, T=38.86)), 3)
0.39
>>> round(float(model.expected_purchases_new(39)), 3)
1.183
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, hyp2f1, log_expit

from clv import beta_geometric
from clv.inputs import cbs_arrays, horizon_array
from clv.units import check_unit


@dataclass(frozen=True)
class MBGNBD(beta_geometric.Parameters):
    """MBG/NBD parameters in ``time_unit``, with the statistics of their fit (see `BGNBD`)."""

    MODEL: ClassVar[str] = "MBG/NBD"

    def log_likelihood_of(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Per-customer log-likelihood."""
        x, t_x, T = cbs_arrays(x, t_x, T)
        return beta_geometric.log_likelihood(
            (self.r, self.alpha, self.a, self.b), x, t_x, T, beta_geometric.mbgnbd_dropout_terms
        )

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(alive | x, t_x, T) = 1 / (1 + a/(b+x) · ((alpha+T)/(alpha+t_x))^(r+x))."""
        x, t_x, T = cbs_arrays(x, t_x, T)
        return self._p_alive(x, t_x, T)[()]

    def _p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return expit(-self._log_odds_dead(x, t_x, T))

    def _log_odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """ln(P(dead) / P(alive)) at T."""
        return (
            np.log(self.a) - np.log(self.b + x)
            + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
        )  # fmt: skip

    def p_no_purchase(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(Y(t) = 0 | x, t_x, T): the chance of no repeat purchase in the next ``t`` units.

        As in BG/NBD (`clv.bgnbd.BGNBD.p_no_purchase`), an MBG/NBD customer drops out only at a
        purchase (the first one included), so one alive at T who buys nothing in (T, T+t] is
        still alive, and λ's posterior given alive is Gamma(r+x, α+T):

            P(Y(t) = 0) = (1 − P(alive)) + P(alive) · ((α+T)/(α+T+t))^(r+x)

        with MBG/NBD's P(alive), which is below 1 for one-time buyers too.

        >>> model = MBGNBD(r=0.525, alpha=6.183, a=0.891, b=1.614, time_unit="weeks")
        >>> round(float(model.p_no_purchase(0, x=0, t_x=0, T=38.86)), 4)
        1.0
        """
        t = horizon_array(t)
        x, t_x, T = cbs_arrays(x, t_x, T)
        t, x, t_x, T = np.broadcast_arrays(t, x, t_x, T)
        log_odds = self._log_odds_dead(x, t_x, T)
        log_p_alive, log_p_dead = log_expit(-log_odds), log_expit(log_odds)
        log_silent = -(self.r + x) * np.log1p(t / (self.alpha + T))
        return np.exp(np.logaddexp(log_p_dead, log_p_alive + log_silent))[()]

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T], Euler-transformed as in `BGNBD.expected_purchases`.

        ``(1−z)^(r+x) 2F1(r+x, b+x+1; a+b+x; z) = (1−z)^(a−1) 2F1(a+b−r, a−1; a+b+x; z)``.
        """
        t = horizon_array(t)
        x, t_x, T = cbs_arrays(x, t_x, T)
        t, x, t_x, T = np.broadcast_arrays(t, x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        c = a + b + x
        one_minus_z = (alpha + T) / (alpha + T + t)
        tail = one_minus_z ** (a - 1) * hyp2f1(a + b - r, a - 1, c, 1 - one_minus_z)
        return (c / (a - 1) * (1 - tail) * self._p_alive(x, t_x, T))[()]

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """E[X(t)] = b/(a−1) · [1 − (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))]."""
        t = horizon_array(t)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        one_minus_z = alpha / (alpha + t)
        tail = one_minus_z**r * hyp2f1(r, b + 1, a + b, 1 - one_minus_z)
        return (b / (a - 1) * (1 - tail))[()]


def fit_mbgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    time_unit: str,
    weights: ArrayLike | None = None,
) -> MBGNBD:
    """Maximum-likelihood MBG/NBD; same inputs and method as `clv.bgnbd.fit_bgnbd`."""
    time_unit = check_unit(time_unit)
    fitted = beta_geometric.fit(x, t_x, T, weights, beta_geometric.mbgnbd_dropout_terms)
    return MBGNBD(**fitted, time_unit=time_unit)
