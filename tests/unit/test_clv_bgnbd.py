"""BG/NBD: the published CDNOW estimates and predictions, recovery of known parameters, edge cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from clv import BGNBD, fit_bgnbd, simulate_bgnbd
from tests import cdnow

PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL 2005
PAPER_MODEL = BGNBD(**PAPER, time_unit="weeks")


@pytest.fixture(scope="module")
def data():
    s = cdnow.summary()
    return s["x"].to_numpy(), s["t_x"].to_numpy(), s["T"].to_numpy()


@pytest.fixture(scope="module")
def fitted(data) -> BGNBD:
    return fit_bgnbd(*data, time_unit="weeks")


def test_cdnow_fit_reproduces_the_published_estimates_and_log_likelihood(fitted):
    for name, published in PAPER.items():
        assert getattr(fitted, name) == pytest.approx(published, rel=0.005), name
        assert round(getattr(fitted, name), 3) == published, name  # 3 dp, as published
    assert fitted.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert fitted.converged is True
    assert fitted.n_customers == 2357
    assert fitted.time_unit == "weeks"


def test_the_fit_is_the_maximum(fitted, data):
    """Moving any parameter by 0.1 % lowers the likelihood: the search stopped at the top."""
    for name in PAPER:
        for step in (0.999, 1.001):
            moved = BGNBD(**{**fitted.params, name: fitted.params[name] * step}, time_unit="weeks")
            assert moved.log_likelihood_of(*data).sum() < fitted.log_likelihood


def test_conditional_expectation_and_p_alive_match_hardies_spreadsheet():
    assert PAPER_MODEL.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.001)
    assert PAPER_MODEL.p_alive(2, 30.43, 38.86) == pytest.approx(0.7266, abs=0.001)


def test_expected_purchases_of_a_new_customer_match_hardies_spreadsheet(fitted):
    t = [0.1429, 1, 3, 31.8571, 32, 78]
    expected = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576]
    np.testing.assert_allclose(fitted.expected_purchases_new(t), expected, atol=0.001)


def test_one_time_buyers_are_certainly_alive_in_bgnbd():
    """The model's quirk (analytics.md §8): nobody drops out before a repeat purchase."""
    assert np.all(PAPER_MODEL.p_alive([0, 0], [0, 0], [1.0, 500.0]) == 1.0)


def test_rows_that_repeat_exactly_can_be_given_as_counts(data):
    """Merging exact duplicates into weights is what the fit does anyway: same estimate."""
    x, t_x, T = data
    triples, counts = np.unique(np.stack([x, t_x, T]), axis=1, return_counts=True)
    assert triples.shape[1] < len(x)  # CDNOW's 2,357 customers hold 1,016 distinct triples
    weighted = fit_bgnbd(*triples, time_unit="weeks", weights=counts)
    plain = fit_bgnbd(x, t_x, T, time_unit="weeks")
    for name in PAPER:
        assert weighted.params[name] == pytest.approx(plain.params[name], rel=1e-6)
    assert weighted.log_likelihood == pytest.approx(plain.log_likelihood, abs=1e-6)


def test_fit_recovers_the_parameters_it_simulated():
    """20,000 simulated customers (seeded) give back r, alpha, a, b within ~3 standard errors.

    Relative standard errors at this size, from the observed information at the true values:
    r 1.6 %, alpha 2.7 %, a 6.7 %, b 8.8 % (a and b correlate at 0.94). Six seeds gave z-scores
    within ±2.1; the tolerances below are about 3 SE. E[X(52)], what the model is used for, is
    much better determined than a and b separately.
    """
    true = BGNBD(r=0.25, alpha=4.0, a=0.8, b=2.5, time_unit="weeks")
    rng = np.random.default_rng(0)
    x, t_x, T, _ = simulate_bgnbd(**true.params, T=rng.uniform(26, 52, 20_000), rng=rng)
    fitted = fit_bgnbd(x, t_x, T, time_unit="weeks")
    tolerance = {"r": 0.05, "alpha": 0.08, "a": 0.20, "b": 0.25}
    for name, rel in tolerance.items():
        assert fitted.params[name] == pytest.approx(true.params[name], rel=rel), name
    assert fitted.expected_purchases_new(52) == pytest.approx(
        true.expected_purchases_new(52), rel=0.02
    )


def test_simulation_matches_the_models_own_expectation():
    """The simulator and E[X(t)] agree: 200,000 customers' mean x within 3 standard errors."""
    rng = np.random.default_rng(1)
    x, _, _, _ = simulate_bgnbd(**PAPER, T=np.full(200_000, 39.0), rng=rng)
    standard_error = x.std() / np.sqrt(len(x))  # 0.0057 around E[X(39)] = 1.1967
    assert abs(x.mean() - PAPER_MODEL.expected_purchases_new(39)) < 3 * standard_error


def test_predictions_stay_finite_for_customers_with_thousands_of_purchases():
    """The textbook form overflows ((alpha+T)/(alpha+t_x))^(r+x) and 2F1 near x = 3000."""
    x = np.array([500.0, 3000.0, 3000.0])
    t_x = np.array([30.0, 30.0, 38.8])
    T = np.full(3, 38.86)
    p = PAPER_MODEL.p_alive(x, t_x, T)
    e = PAPER_MODEL.expected_purchases(39, x, t_x, T)
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(e))
    assert p[1] < 1e-100  # silent for 9 weeks after buying every 5 minutes: gone
    assert e[2] > 1000  # still buying at the end: another ~3,000 purchases expected
    assert np.isfinite(PAPER_MODEL.log_likelihood_of(x, t_x, T)).all()


def test_units_are_carried_with_the_parameters():
    daily = PAPER_MODEL.in_unit("days")
    assert daily.alpha == pytest.approx(PAPER["alpha"] * 7)
    assert (daily.r, daily.a, daily.b) == (PAPER["r"], PAPER["a"], PAPER["b"])
    assert daily.expected_purchases(39 * 7, 2, 30.43 * 7, 38.86 * 7) == pytest.approx(
        PAPER_MODEL.expected_purchases(39, 2, 30.43, 38.86), rel=1e-12
    )


def test_predictions_broadcast_over_horizons_and_customers():
    horizons = PAPER_MODEL.expected_purchases([13, 26, 39], 2, 30.43, 38.86)
    assert horizons.shape == (3,) and np.all(np.diff(horizons) > 0)
    assert PAPER_MODEL.expected_purchases(0, [0, 2], [0, 30.43], [38.86, 38.86]).tolist() == [0, 0]


def test_the_stable_expectation_equals_the_textbook_formula_where_that_one_works(data):
    """ltv.md §1's E[Y(t)|x, t_x, T] as printed, on every CDNOW customer and four horizons."""
    from scipy.special import hyp2f1

    x, t_x, T = data
    r, alpha, a, b = PAPER.values()
    for t in (1.0, 39.0, 100.0, 1000.0):
        textbook = (
            (a + b + x - 1)
            / (a - 1)
            * (
                1
                - ((alpha + T) / (alpha + T + t)) ** (r + x)
                * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
            )
            / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
        )
        np.testing.assert_allclose(
            PAPER_MODEL.expected_purchases(t, x, t_x, T), textbook, rtol=1e-9
        )


def test_a_fitted_model_round_trips_through_a_plain_record(fitted):
    """What a params table stores: every field, the time unit included."""
    record = dataclasses.asdict(fitted)
    assert record["time_unit"] == "weeks" and record["n_customers"] == 2357
    assert BGNBD(**record) == fitted
