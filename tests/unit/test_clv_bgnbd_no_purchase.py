"""BG/NBD P(no purchase in the next t | x, t_x, T), checked against computations that do not use
its closed form: 1-D numerical integration over the posterior of (λ, p), and a purchase-by-purchase
simulation of the fitted model's customers beyond the calibration end."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.integrate import quad

from clv import BGNBD

CDNOW = BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426, time_unit="weeks")  # FHL 2005
CUSTOMERS = [(0, 0.0, 38.86), (0, 0.0, 5.0), (1, 1.71, 38.86), (2, 30.43, 38.86), (7, 35.0, 38.0)]


def by_integration(model: BGNBD, t: float, x: int, t_x: float, T: float) -> float:
    """Bayes by quadrature: the posterior of (λ, p) given (x, t_x, T) has an "alive" branch
    λ^x e^{-λT} (1-p)^x and, for x > 0, a "dropped out after the last purchase" branch
    λ^x e^{-λ t_x} p (1-p)^(x-1), each against the Gamma(r, α) x Beta(a, b) prior. No purchase in
    (T, T+t] has probability e^{-λt} on the alive branch and 1 on the other. Each branch factors
    into a λ-integral and a p-integral, done numerically (algebraic weights take the prior's
    end-point singularities); the priors' normalising constants cancel in the ratio."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b

    def over_lambda(rate: float) -> float:  # ∫ λ^(r-1) λ^x e^{-λ(α+rate)} dλ
        upper = 400.0 / (alpha + rate) + 50.0 * (x + 1) / (alpha + rate)
        return quad(
            lambda lam: lam**x * np.exp(-lam * (alpha + rate)),
            0,
            upper,
            weight="alg",
            wvar=(r - 1, 0),
            limit=200,
        )[0]

    def over_p(dead: bool) -> float:  # ∫ p^(a-1) (1-p)^(b-1) · (1-p)^x  or  p (1-p)^(x-1) dp
        f = (lambda p: p * (1 - p) ** (x - 1)) if dead else (lambda p: (1 - p) ** x)
        return quad(f, 0, 1, weight="alg", wvar=(a - 1, b - 1), limit=200)[0]

    alive = over_lambda(T) * over_p(False)
    alive_silent = over_lambda(T + t) * over_p(False)
    dead = over_lambda(t_x) * over_p(True) if x > 0 else 0.0
    return (dead + alive_silent) / (dead + alive)


@pytest.mark.parametrize(("x", "t_x", "T"), CUSTOMERS)
@pytest.mark.parametrize("t", [1.0, 13.0, 39.0, 200.0])
def test_the_closed_form_equals_the_posterior_integrated_numerically(t, x, t_x, T):
    want = by_integration(CDNOW, t, x, t_x, T)
    assert CDNOW.p_no_purchase(t, x, t_x, T) == pytest.approx(want, rel=1e-6)


def simulate_beyond_calibration(model: BGNBD, n: int, horizon: float, rng: np.random.Generator):
    """Customers drawn from the model, followed purchase by purchase from their first purchase at
    time 0 to T + horizon: Poisson(λ) purchases while active, dropout with probability p right
    after each repeat purchase. Returns the calibration summary (x, t_x, T) and whether the
    customer bought in (T, T + horizon]."""
    lam = rng.gamma(model.r, 1 / model.alpha, n)
    p = rng.beta(model.a, model.b, n)
    T = rng.uniform(5.0, 40.0, n)
    x, t_x = np.zeros(n), np.zeros(n)
    bought_later = np.zeros(n, dtype=bool)
    now = np.zeros(n)
    active = np.arange(n)
    while active.size:
        now[active] += rng.exponential(1.0, active.size) / lam[active]
        end = T[active] + horizon
        purchase = now[active] <= end
        active = active[purchase]
        in_calibration = now[active] <= T[active]
        calibration, holdout = active[in_calibration], active[~in_calibration]
        x[calibration] += 1
        t_x[calibration] = now[calibration]
        bought_later[holdout] = True
        stays = rng.random(calibration.size) >= p[calibration]  # dropout after a repeat purchase
        active = calibration[stays]  # after a holdout purchase the answer is known: stop
    return x, t_x, T, bought_later


def test_the_closed_form_matches_a_simulation_of_the_model_beyond_the_calibration_end():
    """Within groups of simulated customers (by x and by recency), the mean of the formula equals
    the share who made no purchase in the next 13 weeks, to 4 standard errors; exp(-E[Y]), the
    old score, misses by more than that."""
    rng = np.random.default_rng(20261206)
    horizon = 13.0
    x, t_x, T, bought = simulate_beyond_calibration(CDNOW, 300_000, horizon, rng)
    formula = CDNOW.p_no_purchase(horizon, x, t_x, T)
    old = np.exp(-CDNOW.expected_purchases(horizon, x, t_x, T))
    recent = (T - t_x) < 10
    groups = {
        "x = 0": x == 0,
        "x = 1": x == 1,
        "x = 2-3": (x >= 2) & (x <= 3),
        "x >= 4, recent": (x >= 4) & recent,
        "x >= 4, lapsed": (x >= 4) & ~recent,
        "everyone": np.ones_like(recent),
    }
    worst_old = 0.0
    for name, group in groups.items():
        share = 1 - bought[group].mean()
        se = np.sqrt(share * (1 - share) / group.sum())
        print(f"{name}: n={group.sum()} simulated {share:.4f} formula {formula[group].mean():.4f} "
              f"exp(-E) {old[group].mean():.4f}")  # fmt: skip
        assert formula[group].mean() == pytest.approx(share, abs=4 * se), name
        worst_old = max(worst_old, abs(old[group].mean() - share) / se)
    assert worst_old > 10  # the test can tell the right probability from exp(-mean)


def test_limits_no_time_is_certainly_silent_and_forever_leaves_only_the_dropouts():
    x, t_x, T = np.array([0, 1, 2, 7]), np.array([0, 1.71, 30.43, 35.0]), np.array([38.86] * 4)
    np.testing.assert_allclose(CDNOW.p_no_purchase(0.0, x, t_x, T), 1.0)
    np.testing.assert_allclose(CDNOW.p_no_purchase(1e-9, x, t_x, T), 1.0, atol=1e-9)
    # as t -> infinity an alive customer buys surely: what remains is P(dead) = 1 - P(alive)
    np.testing.assert_allclose(
        CDNOW.p_no_purchase(1e40, x, t_x, T), 1 - CDNOW.p_alive(x, t_x, T), atol=1e-6
    )
    # x = 0: alive for sure, so the negative-binomial zero ((α+T)/(α+T+t))^r
    assert CDNOW.p_no_purchase(39, 0, 0, 38.86) == pytest.approx(
        (43.274 / 82.274) ** 0.243, rel=1e-12
    )


def test_decreases_with_the_horizon_and_exceeds_exp_of_minus_the_mean():
    t = np.array([1.0, 4.0, 13.0, 39.0, 104.0])
    for x, t_x, T in CUSTOMERS:
        p = CDNOW.p_no_purchase(t, x, t_x, T)
        assert np.all(np.diff(p) < 0)
        assert np.all(p > np.exp(-CDNOW.expected_purchases(t, x, t_x, T)))  # Jensen


def test_heavy_buyers_keep_a_finite_tiny_probability_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = CDNOW.p_no_purchase(39.0, [5000.0, 50.0], [38.0, 38.8], [38.86, 38.86])
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    # for the 50-purchase customer recompute by hand: P(dead) + P(alive) * silent
    alive = CDNOW.p_alive(50.0, 38.8, 38.86)
    silent = ((4.414 + 38.86) / (4.414 + 38.86 + 39)) ** (0.243 + 50)
    assert p[1] == pytest.approx(1 - alive + alive * silent, rel=1e-9)
