"""Gamma-Gamma spend model (Fader & Hardie 2013, note 025; Colombo & Jiang 1999); ltv.md §5.

Each transaction value is Gamma(p, ν) with ν ~ Gamma(q, γ) across customers. Fitted on repeat
buyers' mean repeat value z̄ (first purchase excluded); it assumes spend is independent of
frequency (check ``corr(x, zbar)``; CDNOW 0.11). Money has no time unit, so neither does this
model.

>>> from clv.gamma_gamma import GammaGamma
>>> spend = GammaGamma(p=6.25, q=3.74, gamma=15.44)  # CDNOW, Fader & Hardie 2013
>>> [round(float(v), 2) for v in spend.expected_order_value(x=[2, 1, 0], zbar=[22.35, 11.77, 0])]
[24.66, 18.92, 35.22]
>>> round(spend.mean_order_value, 2)  # what a customer without repeat purchases is worth per order
35.22
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln, xlogy

from clv.errors import InsufficientDataError, InvalidDataError, ModelError
from clv.inputs import check_params, first_offender, float_array, merge_rows, weight_array
from clv.numerics import dot
from clv.optimize import minimize_log_params

# Three parameters and a between-customer variance to estimate: below a few dozen repeat buyers
# the likelihood is nearly flat in (q, gamma) with p(gamma)/(q-1) fixed, and q wanders off.
MIN_REPEAT_CUSTOMERS = 30


def spend_arrays(x: ArrayLike, zbar: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast and validate ``(x, zbar)``: x whole and >= 0; zbar > 0 wherever x > 0.

    ``zbar`` of customers without repeat purchases is ignored (lifetimes stores 0 there).
    """
    x, zbar = np.broadcast_arrays(
        float_array(x, "frequency x"), float_array(zbar, "mean repeat value zbar")
    )
    if (x < 0).any() or (x != np.floor(x)).any():
        bad = (x < 0) | (x != np.floor(x))
        raise InvalidDataError(
            f"frequency x must be a whole number of repeat purchase days >= 0 ({first_offender(bad, x)})"
        )
    if ((x > 0) & (zbar <= 0)).any():
        raise InvalidDataError(
            "the Gamma-Gamma model needs a positive mean repeat value zbar for every customer "
            f"with x > 0 ((x, zbar) at {first_offender((x > 0) & (zbar <= 0), x, zbar)}); net refunds "
            "against their orders or drop zero-value orders before summarising"
        )
    return x, zbar


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma parameters ``p``, ``q``, ``gamma``, with the statistics of their fit.

    ``gamma`` is in money units; ``n_customers`` counts the repeat buyers the fit used.
    """

    p: float
    q: float
    gamma: float
    log_likelihood: float = math.nan
    n_customers: float = 0
    converged: bool | None = None

    def __post_init__(self) -> None:
        check_params("Gamma-Gamma", p=self.p, q=self.q, gamma=self.gamma)

    @property
    def params(self) -> dict[str, float]:
        """``{"p", "q", "gamma"}``."""
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @property
    def mean_order_value(self) -> float:
        """Population mean order value ``E(Z) = p·gamma / (q − 1)``; needs q > 1."""
        if self.q <= 1:
            raise ModelError(
                f"q = {self.q:g} <= 1: the fitted spend distribution has no finite mean; the "
                "fit probably saw too few repeat buyers or extreme order values"
            )
        return self.p * self.gamma / (self.q - 1)

    def expected_order_value(self, x: ArrayLike, zbar: ArrayLike) -> np.ndarray:
        """E[M | zbar, x] = p(gamma + x·zbar) / (p·x + q − 1).

        A weighted mean of the population mean (weight (q−1)/(px+q−1)) and the customer's own
        zbar: customers with few purchases are pulled towards the population. Customers with
        x = 0 get `mean_order_value`, whatever their zbar.
        """
        x, zbar = spend_arrays(x, zbar)
        denominator = self.p * x + self.q - 1
        if (denominator <= 0).any():
            self.mean_order_value  # noqa: B018 - raises the explanatory ModelError
        zbar = np.where(x > 0, zbar, 0.0)
        return (self.p * (self.gamma + x * zbar) / denominator)[()]

    def log_likelihood_of(self, x: ArrayLike, zbar: ArrayLike) -> np.ndarray:
        """Per-customer ``ln f(zbar | p, q, gamma, x)`` for repeat buyers (x > 0) only."""
        x, zbar = spend_arrays(x, zbar)
        keep = x > 0
        return _log_density(self.p, self.q, self.gamma, x[keep], zbar[keep])


def _log_density(p: float, q: float, gamma: float, x: np.ndarray, zbar: np.ndarray) -> np.ndarray:
    px = p * x
    return (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma) + xlogy(px, x)
        + (px - 1) * np.log(zbar) - (px + q) * np.log(gamma + x * zbar)
    )  # fmt: skip


def _negative_mean_log_likelihood(
    log_params: np.ndarray,
    x: np.ndarray,
    zbar: np.ndarray,
    weight: np.ndarray,
    x_values: np.ndarray,
    per_x: np.ndarray,
    sums: tuple[float, float],
) -> tuple[float, np.ndarray]:
    """Mean −ln f and its gradient in log(p, q, gamma); x-only terms once per distinct x."""
    p, q, gamma = np.exp(log_params)
    n = per_x.sum()
    sum_x_log_z, sum_log_z = sums
    pxv = p * x_values
    gamma_xz = gamma + x * zbar
    log_gz = np.log(gamma_xz)
    log_gamma = np.log(gamma)
    wpxq = weight * (p * x + q)
    value = (
        dot(gammaln(pxv + q) - gammaln(pxv) - gammaln(q) + pxv * np.log(x_values), per_x)
        + n * q * log_gamma + p * sum_x_log_z - sum_log_z - dot(wpxq, log_gz)
    )  # fmt: skip
    d_p = (
        dot(x_values * (digamma(pxv + q) - digamma(pxv) + np.log(x_values)), per_x)
        + sum_x_log_z - dot(weight * x, log_gz)
    )  # fmt: skip
    d_q = dot(digamma(pxv + q) - digamma(q), per_x) + n * log_gamma - dot(weight, log_gz)
    d_gamma = n * q / gamma - dot(wpxq, 1.0 / gamma_xz)
    grad = np.array([d_p * p, d_q * q, d_gamma * gamma])
    return float(-value / n), -grad / n


def fit_gamma_gamma(
    x: ArrayLike,
    zbar: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma on the repeat buyers among ``(x, zbar)``.

    Pass every customer: those with x = 0 are left out here, as the model requires. Order
    values are rescaled by their mean for the search (gamma is in money units, so the same
    start works for cents and for yen).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.integers(1, 6, 2000).astype(float)
    >>> nu = rng.gamma(4.0, 1 / 15.0, 2000)              # q = 4, gamma = 15
    >>> zbar = rng.gamma(6.0 * x, 1 / (nu * x))          # p = 6: mean of x Gamma(6, nu) values
    >>> spend = fit_gamma_gamma(x, zbar)
    >>> spend.converged, round(spend.mean_order_value / (6 * 15 / 3), 1)
    (True, 1.0)
    """
    x, zbar = spend_arrays(x, zbar)
    weight = weight_array(weights, x.shape)
    repeat = (x > 0) & (weight > 0)
    n_repeat = float(weight[repeat].sum())
    n_repeat = int(n_repeat) if n_repeat.is_integer() else n_repeat
    if n_repeat < min_repeat_customers:
        raise InsufficientDataError(
            f"the Gamma-Gamma model is fitted on repeat buyers and there are {n_repeat:g}, "
            f"fewer than {min_repeat_customers}; use a longer calibration period or value "
            "customers at an observed average order value instead"
        )
    columns, weight = merge_rows(
        {"x": x[repeat], "zbar": zbar[repeat]}, weight[repeat], probe="zbar"
    )
    x, zbar = columns["x"], columns["zbar"]
    scale = weight.sum() / dot(weight, zbar)
    scaled = zbar * scale
    x_values, x_index = np.unique(x, return_inverse=True)
    per_x = np.bincount(x_index, weights=weight, minlength=len(x_values))
    log_z = np.log(scaled)
    sums = (dot(weight * x, log_z), dot(weight, log_z))
    best = minimize_log_params(
        lambda v: _negative_mean_log_likelihood(v, x, scaled, weight, x_values, per_x, sums),
        np.zeros(3),
    )
    p, q, gamma = np.exp(best.log_params)
    gamma /= scale
    return GammaGamma(
        p=float(p),
        q=float(q),
        gamma=float(gamma),
        log_likelihood=dot(weight, _log_density(p, q, gamma, x, zbar)),
        n_customers=n_repeat,
        converged=best.converged,
    )
