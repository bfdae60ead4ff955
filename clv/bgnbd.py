"""BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"); ltv.md §1.

While active a customer buys at Poisson rate λ ~ Gamma(r, α); after each *repeat* purchase they
drop out with probability p ~ Beta(a, b). ``alpha`` is a rate in the model's `time_unit`.

>>> from clv.bgnbd import BGNBD
>>> model = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks")  # CDNOW, FHL 2005
>>> round(float(model.expected_purchases(39, x=2, t_x=30.43, T=38.86)), 3)
1.226
>>> round(float(model.p_alive(x=2, t_x=30.43, T=38.86)), 4)
0.7266
>>> float(model.p_alive(x=0, t_x=0, T=38.86))  # the BG/NBD quirk: one-time buyers are alive
1.0
>>> round(float(model.p_no_purchase(39, x=2, t_x=30.43, T=38.86)), 4)
0.4454
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, hyp2f1, log_expit

from clv import beta_geometric
from clv.common_dropout import CommonDropout
from clv.inputs import cbs_arrays, horizon_array
from clv.nbd import NBD
from clv.units import check_unit


@dataclass(frozen=True)
class BGNBD(beta_geometric.Parameters):
    """BG/NBD parameters in ``time_unit``, with the statistics of the fit that produced them
    (`fit_bgnbd`; see `beta_geometric.Parameters`).

    >>> weekly = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks")
    >>> round(weekly.in_unit("days").alpha, 3)
    30.898
    """

    MODEL: ClassVar[str] = "BG/NBD"

    #: a / (a + b), the mean dropout probability after a purchase, below which the fit is at the
    #: no-dropout boundary (the optimiser's log-parameter bound puts a near e^-30 or b near e^30)
    NO_DROPOUT: ClassVar[float] = 1e-9

    @property
    def at_no_dropout_limit(self) -> bool:
        """Whether the mean dropout probability a / (a + b) is 0 to the fit's precision: the
        data show no dropout and BG/NBD has become NBD (`no_dropout_limit`).

        >>> BGNBD(r=0.5, alpha=9.0, a=1e-13, b=3.0, time_unit="days").at_no_dropout_limit
        True
        """
        return self.a / (self.a + self.b) < self.NO_DROPOUT

    #: a + b above which the Beta of the dropout probability is a point for all purposes (its
    #: standard deviation is below 0.005): the fit's common-dropout limit
    COMMON_DROPOUT: ClassVar[float] = 1e4

    @property
    def at_common_dropout_limit(self) -> bool:
        """Whether a + b is so large that every customer has the same dropout probability
        a / (a + b): BG/NBD has become `CommonDropout` (`common_dropout_limit`).

        >>> BGNBD(r=0.42, alpha=10.5, a=1.2e6, b=3.05e6, time_unit="days").at_common_dropout_limit
        True
        """
        return self.a + self.b >= self.COMMON_DROPOUT

    def common_dropout_limit(self) -> CommonDropout:
        """BG/NBD as a, b -> infinity with a / (a + b) = p: one dropout probability for all."""
        return CommonDropout(
            r=self.r, alpha=self.alpha, p=self.a / (self.a + self.b), time_unit=self.time_unit
        )

    def no_dropout_limit(self) -> NBD:
        """BG/NBD as a / (a + b) -> 0: the NBD model with the same r and alpha."""
        return NBD(r=self.r, alpha=self.alpha, time_unit=self.time_unit)

    def log_likelihood_of(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """Per-customer log-likelihood ``ln L(r, alpha, a, b | x, t_x, T)``."""
        x, t_x, T = cbs_arrays(x, t_x, T)
        return beta_geometric.log_likelihood(
            (self.r, self.alpha, self.a, self.b), x, t_x, T, beta_geometric.bgnbd_dropout_terms
        )

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still active at T | x, t_x, T); exactly 1 for x = 0 (see analytics.md §8).

        Computed as ``expit(−ln odds)`` so it neither overflows nor loses precision for large x.
        """
        x, t_x, T = cbs_arrays(x, t_x, T)
        return self._p_alive(x, t_x, T)[()]

    def _p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return expit(-self._log_odds_dead(x, t_x, T))

    def _log_odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """ln(P(dead) / P(alive)) at T; −inf for x = 0 (nobody drops out before a repeat)."""
        repeat = x > 0
        b_x = np.where(repeat, self.b + x - 1, 1.0)  # masked: only used where x > 0
        log_odds = (
            np.log(self.a) - np.log(b_x)
            + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
        )  # fmt: skip
        return np.where(repeat, log_odds, -np.inf)

    def p_no_purchase(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(Y(t) = 0 | x, t_x, T): the chance of no repeat purchase in the next ``t`` units.

        A BG/NBD customer drops out only right after a purchase, so one who is alive at T and buys
        nothing in (T, T+t] is still alive; given alive, λ's posterior is Gamma(r+x, α+T), and
        the chance of no Poisson event in t is its Laplace transform at t. Hence

            P(Y(t) = 0) = (1 − P(alive)) + P(alive) · ((α+T)/(α+T+t))^(r+x)

        summed in log space (``logaddexp`` of two non-negative terms, never ``1 − …``), so a heavy
        buyer's tiny probability keeps its precision. It is not ``exp(−E[Y(t)])``: over a mixture
        of rates and dropouts that is smaller (Jensen). Tends to 1 as t → 0 and to
        1 − P(alive) as t → ∞; for x = 0 it is ((α+T)/(α+T+t))^r.

        >>> model = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks")
        >>> round(float(model.p_no_purchase(39, x=0, t_x=0, T=38.86)), 4)  # ((α+T)/(α+T+t))^r
        0.8554
        >>> round(float(np.exp(-model.expected_purchases(39, x=2, t_x=30.43, T=38.86))), 4)
        0.2935
        """
        t = horizon_array(t)
        x, t_x, T = cbs_arrays(x, t_x, T)
        t, x, t_x, T = np.broadcast_arrays(t, x, t_x, T)
        log_odds = self._log_odds_dead(x, t_x, T)  # ln P(dead) − ln P(alive); −inf for x = 0
        log_p_alive, log_p_dead = log_expit(-log_odds), log_expit(log_odds)
        alpha_T = self.alpha + T
        log_silent = -(self.r + x) * np.log1p(t / alpha_T)  # ln ((α+T)/(α+T+t))^(r+x)
        return np.exp(np.logaddexp(log_p_dead, log_p_alive + log_silent))[()]

    def expected_purchases(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected repeat purchases in the next ``t`` units.

        The hypergeometric term is Euler-transformed, ``(1−z)^(r+x) 2F1(r+x, b+x; c; z) =
        (1−z)^(a−1) 2F1(a+b−1−r, a−1; c; z)`` with ``c = a+b+x−1``, so no power of ``x`` is ever
        formed: finite for customers with thousands of purchases.
        """
        t = horizon_array(t)
        x, t_x, T = cbs_arrays(x, t_x, T)
        t, x, t_x, T = np.broadcast_arrays(t, x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        c = a + b + x - 1
        one_minus_z = (alpha + T) / (alpha + T + t)
        tail = one_minus_z ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, 1 - one_minus_z)
        return (c / (a - 1) * (1 - tail) * self._p_alive(x, t_x, T))[()]

    def expected_purchases_new(self, t: ArrayLike) -> np.ndarray:
        """E[X(t)]: expected repeat purchases of a newly acquired customer in (0, t]."""
        t = horizon_array(t)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        one_minus_z = alpha / (alpha + t)
        tail = one_minus_z ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b - 1, 1 - one_minus_z)
        return ((a + b - 1) / (a - 1) * (1 - tail))[()]


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    time_unit: str,
    weights: ArrayLike | None = None,
) -> BGNBD:
    """Maximum-likelihood BG/NBD on customers ``(x, t_x, T)`` measured in ``time_unit``.

    ``weights`` counts the customers each row stands for (aggregated data); rows with exactly
    equal ``(x, t_x, T)`` are merged the same way before the fit, which never changes the
    estimate. The optimiser is L-BFGS-B on log-parameters with the analytic gradient.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> model = fit_bgnbd(*simulate_bgnbd(0.25, 4.0, 0.8, 2.5, T=np.full(5000, 39.0), rng=rng)[:3],
    ...                   time_unit="weeks")
    >>> model.converged, model.n_customers
    (True, 5000)
    """
    time_unit = check_unit(time_unit)
    fitted = beta_geometric.fit(x, t_x, T, weights, beta_geometric.bgnbd_dropout_terms)
    return BGNBD(**fitted, time_unit=time_unit)


def simulate_bgnbd(
    r: float,
    alpha: float,
    a: float,
    b: float,
    *,
    T: ArrayLike,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``(x, t_x, T, lam)`` for customers observed for ages ``T`` under BG/NBD.

    Exact and vectorised: with N ~ Poisson(λT) purchase opportunities in (0, T] and the dropout
    after the D-th repeat purchase, D ~ Geometric(p), the customer makes x = min(N, D) repeat
    purchases, and the x-th of N uniform event times is ``T · Beta(x, N − x + 1)``.
    ``lam`` (each customer's purchase rate) is returned for simulating spend or holdouts.
    """
    T = np.asarray(T, dtype=np.float64)
    lam = rng.gamma(r, 1.0 / alpha, T.shape)
    p = np.maximum(rng.beta(a, b, T.shape), 1e-300)  # Geometric(0) is undefined
    n = rng.poisson(lam * T)
    x = np.minimum(n, rng.geometric(p))
    last = rng.beta(np.maximum(x, 1), n - x + 1)
    t_x = np.where(x > 0, T * last, 0.0)
    return x.astype(np.float64), t_x, T, lam
