"""The likelihood shared by BG/NBD and MBG/NBD: Poisson-gamma purchases, beta-geometric dropout.

Both likelihoods have the form (ltv.md §1 and §3)

    ln L = lnΓ(r+x) − lnΓ(r) + r ln α
           + logaddexp(c1(x) − (r+x) ln(α+T),  c2(x) − (r+x) ln(α+t_x))

where ``c1``, ``c2`` are beta-function ratios in ``(a, b)`` that depend on the customer only
through ``x``. They and their derivatives are evaluated once per distinct ``x`` and gathered; the
per-customer work is two logarithms and a logaddexp. The gradient is analytic:
``w = exp(term2 − logaddexp(...))`` is the share of the second term, and every derivative is a
``w``-weighted mix of the two terms' derivatives.

>>> import numpy as np
>>> from clv.inputs import merge_duplicates
>>> x, t_x, T = np.array([0.0, 2.0]), np.array([0.0, 30.43]), np.full(2, 38.86)
>>> params = (0.243, 4.414, 0.793, 2.426)
>>> round(float(log_likelihood(params, x, t_x, T, bgnbd_dropout_terms).sum()), 4)
-10.0133
>>> data = Prepared.from_customers(merge_duplicates(x, t_x, T, np.ones(2)))
>>> value, gradient = negative_mean_log_likelihood(np.log(params), data, bgnbd_dropout_terms)
>>> round(-2 * value, 4)  # minus the mean over two customers
-10.0133
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from scipy.special import betaln, digamma, gammaln

from clv.errors import InsufficientDataError
from clv.inputs import Customers, cbs_arrays, check_params, merge_duplicates, weight_array
from clv.numerics import dot, log_add_exp_share
from clv.optimize import Optimum, minimize_log_params
from clv.units import check_unit, conversion_factor

DropoutTerms = Callable[[float, float, np.ndarray], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class Parameters:
    """The parameters (r, alpha, a, b) of a BG/NBD-family model in ``time_unit``, with the
    statistics of the fit that produced them: ``log_likelihood``, ``n_customers`` and
    ``converged`` are nan, 0 and None for parameters typed in or loaded."""

    MODEL: ClassVar[str] = "BG/NBD family"

    r: float
    alpha: float
    a: float
    b: float
    time_unit: str
    log_likelihood: float = math.nan
    n_customers: float = 0
    converged: bool | None = None

    def __post_init__(self) -> None:
        check_params(self.MODEL, r=self.r, alpha=self.alpha, a=self.a, b=self.b)
        check_unit(self.time_unit)

    @property
    def params(self) -> dict[str, float]:
        """``{"r", "alpha", "a", "b"}`` (alpha per `time_unit`)."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def in_unit(self, time_unit: str) -> Self:
        """The same model with times in ``time_unit``: alpha rescales, r, a and b do not. The fit
        statistics are carried over unchanged (they describe the data as fitted)."""
        factor = conversion_factor(self.time_unit, check_unit(time_unit))
        return dataclasses.replace(self, alpha=self.alpha * factor, time_unit=time_unit)


def bgnbd_dropout_terms(a: float, b: float, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """BG/NBD: ``c1 = ln B(a, b+x) − ln B(a, b)``, ``c2 = ln B(a+1, b+x−1) − ln B(a, b)``.

    ``c2`` is −inf for ``x = 0`` (a customer cannot drop out before a repeat purchase); ``b+x−1``
    is masked there rather than evaluated. Returns ``c1, c2`` and their derivatives in a and b.
    """
    repeat = x > 0
    x1 = np.where(repeat, x, 1.0)  # masked: b + x - 1 may be <= 0 when x = 0
    base, d_base_a, d_base_b = (
        betaln(a, b),
        digamma(a) - digamma(a + b),
        digamma(b) - digamma(a + b),
    )
    psi_abx = digamma(a + b + x)
    c1 = betaln(a, b + x) - base
    c1_a = digamma(a) - psi_abx - d_base_a
    c1_b = digamma(b + x) - psi_abx - d_base_b
    c2 = np.where(repeat, betaln(a + 1, b + x1 - 1) - base, -np.inf)
    c2_a = np.where(repeat, digamma(a + 1) - psi_abx - d_base_a, 0.0)
    c2_b = np.where(repeat, digamma(b + x1 - 1) - psi_abx - d_base_b, 0.0)
    return c1, c2, c1_a, c1_b, c2_a, c2_b


def mbgnbd_dropout_terms(a: float, b: float, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """MBG/NBD: ``c1 = ln B(a, b+x+1) − ln B(a, b)``, ``c2 = ln B(a+1, b+x) − ln B(a, b)``."""
    base, d_base_a, d_base_b = (
        betaln(a, b),
        digamma(a) - digamma(a + b),
        digamma(b) - digamma(a + b),
    )
    psi_abx = digamma(a + b + x + 1)
    c1 = betaln(a, b + x + 1) - base
    c1_a = digamma(a) - psi_abx - d_base_a
    c1_b = digamma(b + x + 1) - psi_abx - d_base_b
    c2 = betaln(a + 1, b + x) - base
    c2_a = digamma(a + 1) - psi_abx - d_base_a
    c2_b = digamma(b + x) - psi_abx - d_base_b
    return c1, c2, c1_a, c1_b, c2_a, c2_b


def log_likelihood(
    params: tuple[float, float, float, float],
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    dropout_terms: DropoutTerms,
) -> np.ndarray:
    """Per-customer ``ln L`` at ``params = (r, alpha, a, b)`` (validated arrays)."""
    r, alpha, a, b = params
    x_values, x_index = np.unique(x, return_inverse=True)
    c1, c2 = dropout_terms(a, b, x_values)[:2]
    return (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + np.logaddexp(
            c1[x_index].reshape(x.shape) - (r + x) * np.log(alpha + T),
            c2[x_index].reshape(x.shape) - (r + x) * np.log(alpha + t_x),
        )
    )  # fmt: skip


@dataclass(frozen=True)
class Prepared:
    """Customers split for the objective: one-time buyers (t_x = 0) and repeat buyers.

    One-time buyers are most customers (60 % on CDNOW) and need no ``ln(alpha + t_x)``: their
    second term is a constant, so the split removes a third of the per-customer work.
    ``x_values`` covers both parts; each part's ``x_index`` points into it.
    """

    zero: Customers
    repeat: Customers
    x_values: np.ndarray
    per_x: np.ndarray  # customers per distinct x

    @classmethod
    def from_customers(cls, data: Customers) -> Prepared:
        zero = data.x == 0
        parts = [
            Customers(
                data.x[mask],
                data.t_x[mask],
                data.T[mask],
                data.weight[mask],
                data.x_values,
                data.x_index[mask],
            )
            for mask in (zero, ~zero)
        ]
        per_x = np.bincount(data.x_index, weights=data.weight, minlength=len(data.x_values))
        return cls(parts[0], parts[1], data.x_values, per_x)

    def rescaled(self, scale: float) -> Prepared:
        """The same customers with every time multiplied by ``scale``."""
        zero, repeat = (
            Customers(p.x, p.t_x * scale, p.T * scale, p.weight, p.x_values, p.x_index)
            for p in (self.zero, self.repeat)
        )
        return Prepared(zero, repeat, self.x_values, self.per_x)


def negative_mean_log_likelihood(
    log_params: np.ndarray, data: Prepared, dropout_terms: DropoutTerms
) -> tuple[float, np.ndarray]:
    """``−Σ w ln L / Σ w`` and its gradient in ``log(r, alpha, a, b)``, for L-BFGS-B."""
    r, alpha, a, b = np.exp(log_params)
    xv, per_x = data.x_values, data.per_x
    n = float(per_x.sum())
    c1, c2, c1_a, c1_b, c2_a, c2_b = dropout_terms(a, b, xv)
    log_alpha = np.log(alpha)
    value = dot(gammaln(r + xv) - gammaln(r), per_x) + n * r * log_alpha
    d_r = dot(digamma(r + xv) - digamma(r), per_x) + n * log_alpha
    d_alpha = n * r / alpha
    second_per_x = np.zeros_like(per_x)

    # One-time buyers: x = 0 and t_x = 0, so the second term is the constant c2(0) - r ln(alpha).
    zero = data.zero
    if len(zero.T):
        w = zero.weight
        alpha_T = alpha + zero.T
        log_alpha_T = np.log(alpha_T)
        term1 = c1[0] - r * log_alpha_T
        term2 = c2[0] - r * log_alpha
        if np.isneginf(term2):  # BG/NBD: nobody drops out before a repeat purchase
            value += dot(w, term1)
            d_r -= dot(w, log_alpha_T)
            d_alpha -= r * dot(w, 1.0 / alpha_T)
        else:
            mix, share2 = log_add_exp_share(term1, term2)
            w2 = w * share2
            value += dot(w, mix)
            d_r -= dot(w - w2, log_alpha_T) + log_alpha * w2.sum()
            d_alpha -= r * (dot(w - w2, 1.0 / alpha_T) + w2.sum() / alpha)
            second_per_x[0] = w2.sum()

    repeat = data.repeat
    if len(repeat.T):
        w, idx = repeat.weight, repeat.x_index
        rx = r + repeat.x
        alpha_T, alpha_t = alpha + repeat.T, alpha + repeat.t_x
        log_alpha_T, log_alpha_t = np.log(alpha_T), np.log(alpha_t)
        term1 = c1[idx] - rx * log_alpha_T
        term2 = c2[idx] - rx * log_alpha_t
        mix, share2 = log_add_exp_share(term1, term2)  # share2: the second term's weight
        w2 = w * share2
        value += dot(w, mix)
        d_r -= dot(w, log_alpha_T) - dot(w2, log_alpha_T - log_alpha_t)
        d_alpha -= dot(w * rx, 1.0 / alpha_T + share2 * (1.0 / alpha_t - 1.0 / alpha_T))
        second_per_x += np.bincount(idx, weights=w2, minlength=len(xv))

    first_per_x = per_x - second_per_x
    d_a = dot(c1_a, first_per_x) + dot(c2_a, second_per_x)
    d_b = dot(c1_b, first_per_x) + dot(c2_b, second_per_x)
    grad = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return float(-value / n), -grad / n


def fit_log_params(data: Customers, dropout_terms: DropoutTerms) -> tuple[Optimum, float]:
    """Fit ``(r, alpha, a, b)`` on ``data`` with times rescaled so that the largest age is 1.

    Rescaling time by ``c`` maps alpha to ``c·alpha`` and leaves r, a, b alone; it only makes the
    starting point (all parameters 1) sensible whatever the time unit. Returns the `Optimum` in
    the rescaled problem and the scale.
    """
    scale = 1.0 / float(data.T.max())
    prepared = Prepared.from_customers(data).rescaled(scale)
    best = minimize_log_params(
        lambda v: negative_mean_log_likelihood(v, prepared, dropout_terms), np.zeros(4)
    )
    return best, scale


def fit(x, t_x, T, weights, dropout_terms: DropoutTerms) -> dict:
    """Fit r, alpha, a, b of a beta-geometric model (BG/NBD or MBG/NBD, by ``dropout_terms``):
    the shared body of `clv.bgnbd.fit_bgnbd` and `clv.mbgnbd.fit_mbgnbd`. Returns the fitted
    fields of the model's dataclass, all but the time unit."""
    x, t_x, T = cbs_arrays(x, t_x, T)
    data = merge_duplicates(x, t_x, T, weight_array(weights, x.shape))
    if not (data.weight @ (data.x > 0)) > 0:
        raise InsufficientDataError(
            "no customer has a repeat purchase: the dropout parameters a and b cannot be "
            "estimated; widen the calibration period"
        )
    if data.T.max() <= 0:
        raise InsufficientDataError("every age T is 0: the calibration period has no length")
    best, scale = fit_log_params(data, dropout_terms)
    r, alpha, a, b = np.exp(best.log_params)
    alpha /= scale
    per_customer = log_likelihood((r, alpha, a, b), data.x, data.t_x, data.T, dropout_terms)
    return {
        "r": float(r),
        "alpha": float(alpha),
        "a": float(a),
        "b": float(b),
        "log_likelihood": dot(data.weight, per_customer),
        "n_customers": data.n_customers,
        "converged": best.converged,
    }
