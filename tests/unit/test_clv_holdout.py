"""Out-of-sample validation on CDNOW (docs/metrics.md, "Out-of-sample validation on CDNOW").

Calibration 1997-01-01..1997-09-30 (39 weeks), holdout 1997-10-01..1998-06-30 (39 weeks). The
observed side (purchase days, the tracking curve, who bought in the holdout) is counted here
from the raw text file line by line, not through `clv.holdout`; the model figures are the ones
measured when the section was written, with tolerances that let a regression fail.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import numpy as np
import pytest

from clv import MBGNBD
from clv.classification import auc, brier, cross_fitted_logistic, reliability
from clv.holdout import (
    NAIVE,
    churn_scores,
    conditional_expectations,
    cumulative_repeat_purchases,
    fit_models,
    holdout_errors,
    holdout_predictions,
    split,
)
from tests import cdnow

START, CALIBRATION_END, HOLDOUT_END = date(1997, 1, 1), date(1997, 9, 30), date(1998, 6, 30)


@pytest.fixture(scope="module")
def raw() -> dict:
    """Purchase days per customer, straight from CDNOW_sample.txt's text."""
    days: dict[int, set[date]] = defaultdict(set)
    for line in cdnow.dataset("CDNOW_sample.txt").read_text().splitlines():
        fields = line.split()
        if fields:
            d = fields[2]
            days[int(fields[1])].add(date(int(d[:4]), int(d[4:6]), int(d[6:])))
    first = {c: min(ds) for c, ds in days.items()}
    repeat_offsets = sorted(
        (d - START).days for c, ds in days.items() for d in ds if d > first[c] and d <= HOLDOUT_END
    )
    holdout = {c: sum(CALIBRATION_END < d <= HOLDOUT_END for d in ds) for c, ds in days.items()}
    calibration = {c: sum(first[c] < d <= CALIBRATION_END for d in ds) for c, ds in days.items()}
    return {"repeat_offsets": repeat_offsets, "holdout": holdout, "calibration": calibration}


@pytest.fixture(scope="module")
def cdnow_holdout():
    h = split(
        cdnow.transactions(),
        calibration_end="1997-09-30",
        holdout_end="1998-06-30",
        time_unit="weeks",
    )
    models = fit_models(h)
    return h, models, holdout_predictions(h, models)


# --- the scores' metrics, on small inputs --------------------------------------------------


def test_auc_equals_the_pairwise_count_with_ties_as_one_half():
    rng = np.random.default_rng(3)
    for _ in range(20):
        score = rng.integers(0, 6, 60).astype(float)  # many ties
        outcome = rng.integers(0, 2, 60)
        pos, neg = score[outcome == 1], score[outcome == 0]
        pairs = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        assert auc(score, outcome) == pytest.approx(pairs.mean(), abs=1e-12)


def test_auc_is_one_for_a_perfect_ranking_and_one_half_for_a_constant():
    assert auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert auc([5, 5, 5, 5], [0, 1, 0, 1]) == 0.5


def test_brier_and_reliability_on_a_small_example():
    p, y = [0.05, 0.15, 0.95, 0.85], [0, 1, 1, 1]
    assert brier(p, y) == pytest.approx((0.05**2 + 0.85**2 + 0.05**2 + 0.15**2) / 4)
    table = reliability(p, y)
    assert table["customers"].tolist() == [1, 1, 1, 1]
    assert table["observed"].tolist() == [0.0, 1.0, 1.0, 1.0]


def test_the_cross_fitted_probability_never_sees_its_own_outcome():
    rng = np.random.default_rng(5)
    feature = rng.uniform(0, 300, 400)
    outcome = (rng.uniform(size=400) < feature / 300).astype(float)
    fold = np.arange(400) % 2
    before = cross_fitted_logistic(feature, outcome, fold)
    flipped = outcome.copy()
    flipped[fold == 0] = 1 - flipped[fold == 0]
    after = cross_fitted_logistic(feature, flipped, fold)
    np.testing.assert_array_equal(before[fold == 0], after[fold == 0])


def test_mbgnbd_p_no_purchase_tends_to_one_minus_p_alive_and_is_one_at_zero():
    model = MBGNBD(r=0.525, alpha=6.183, a=0.891, b=1.614, time_unit="weeks")
    x, t_x, T = np.array([0, 2, 7]), np.array([0, 30.43, 20.0]), np.array([38.86, 38.86, 38.86])
    assert model.p_no_purchase(0.0, x, t_x, T) == pytest.approx(1.0)
    np.testing.assert_allclose(model.p_no_purchase(1e40, x, t_x, T), 1 - model.p_alive(x, t_x, T))
    alive = model.p_alive(0, 0, 38.86)
    silent = ((6.183 + 38.86) / (6.183 + 38.86 + 39)) ** 0.525
    assert model.p_no_purchase(39, 0, 0, 38.86) == pytest.approx(1 - alive + alive * silent)


# --- CDNOW: the observed side against the raw text ------------------------------------------


def test_the_split_counts_what_the_text_file_holds(cdnow_holdout, raw):
    h, _, _ = cdnow_holdout
    c = h.customers
    assert len(c) == 2357 and h.horizon == 39.0
    assert c["holdout_purchases"].to_dict() == raw["holdout"]
    assert c["frequency"].to_dict() == raw["calibration"]
    assert c["holdout_purchases"].sum() == 1882 and c["frequency"].sum() == 2457


def test_the_actual_tracking_curve_is_the_text_files_weekly_count(cdnow_holdout, raw):
    h, models, _ = cdnow_holdout
    curve = cumulative_repeat_purchases(h, models, 78)
    offsets = np.array(raw["repeat_offsets"])
    expected = [(offsets < 7 * week).sum() for week in range(1, 79)]
    assert curve["actual"].tolist() == expected
    assert (curve.loc[39, "actual"], curve.loc[78, "actual"]) == (2457, 4339)


# --- CDNOW: the models' figures --------------------------------------------------------------


def test_the_models_are_the_published_cdnow_fits(cdnow_holdout):
    _, models, _ = cdnow_holdout
    bgnbd = models["BG/NBD"]
    assert (bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b) == pytest.approx(
        (0.243, 4.414, 0.793, 2.426), abs=0.001
    )  # FHL 2005 (ltv.md §1)
    assert models["Pareto/NBD"].log_likelihood == pytest.approx(-9595.0, abs=0.1)  # ltv.md §2


# Measured 2026-12 (docs/metrics.md): expected cumulative repeat purchases at weeks 39 and 78.
TRACKING = {
    "BG/NBD": (2494.0, 4160.6),
    "MBG/NBD": (2475.6, 4050.0),
    "Pareto/NBD": (2524.9, 4270.0),
}


def test_the_expected_tracking_curves_at_the_calibration_end_and_week_78(cdnow_holdout):
    h, models, _ = cdnow_holdout
    curve = cumulative_repeat_purchases(h, models, 78)
    for name, (week39, week78) in TRACKING.items():
        assert curve.loc[39, name] == pytest.approx(week39, rel=0.002), name
        assert curve.loc[78, name] == pytest.approx(week78, rel=0.002), name
    # within 3 % of the actual 2,457 at week 39, and within 7 % of the actual 4,339 at week 78
    assert (curve.loc[39, list(TRACKING)] / 2457 - 1).abs().max() < 0.03
    assert (curve.loc[78, list(TRACKING)] / 4339 - 1).abs().max() < 0.07
    assert abs(curve.loc[78, "BG/NBD"] / 4339 - 1) < 0.045


MAE = {"BG/NBD": 0.785, "MBG/NBD": 0.765, "Pareto/NBD": 0.755, NAIVE: 1.024}
AGGREGATE = {"BG/NBD": 1653.4, "MBG/NBD": 1576.7, "Pareto/NBD": 1665.5, NAIVE: 2930.1}


def test_holdout_errors_per_customer_and_in_aggregate_beat_the_naive_baseline(cdnow_holdout, raw):
    _, _, predictions = cdnow_holdout
    errors = holdout_errors(predictions)
    assert (errors["actual"] == sum(raw["holdout"].values())).all()
    for name, mae in MAE.items():
        assert errors.loc[name, "mae"] == pytest.approx(mae, abs=0.01), name
        assert errors.loc[name, "predicted"] == pytest.approx(AGGREGATE[name], rel=0.005), name
    naive = errors.loc[NAIVE]
    for name in ("BG/NBD", "MBG/NBD", "Pareto/NBD"):
        assert abs(errors.loc[name, "aggregate_error"]) < abs(naive["aggregate_error"]) / 3
        assert errors.loc[name, "mae"] < naive["mae"] - 0.2


# Fader, Hardie & Lee (2005) group customers by calibration repeat purchases 0..6 and 7+.
CONDITIONAL_BGNBD = [0.23, 0.52, 1.04, 1.52, 2.16, 2.65, 3.50, 6.16]


def test_conditional_expectations_by_calibration_frequency(cdnow_holdout, raw):
    h, _, predictions = cdnow_holdout
    table = conditional_expectations(predictions, h.customers["frequency"].to_numpy())
    assert table.index.tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    groups: dict[int, list[int]] = defaultdict(list)
    for customer, x in raw["calibration"].items():
        groups[min(x, 7)].append(raw["holdout"][customer])
    assert table["customers"].tolist() == [len(groups[g]) for g in range(8)]
    np.testing.assert_allclose(table["actual"], [np.mean(groups[g]) for g in range(8)])
    np.testing.assert_allclose(table["BG/NBD"], CONDITIONAL_BGNBD, atol=0.01)


CHURN = {  # AUC, Brier of "no purchase in weeks 40-78"; measured 2026-12
    "BG/NBD": (0.7569, 0.1612),
    "MBG/NBD": (0.7601, 0.1614),
    "recency probability": (0.7707, 0.1587),
}


def test_churn_discrimination_and_calibration_against_recency(cdnow_holdout, raw):
    h, models, _ = cdnow_holdout
    scores = churn_scores(h, models)
    churned = np.array([raw["holdout"][c] == 0 for c in scores.index], dtype=float)
    np.testing.assert_array_equal(scores["churned"], churned)
    assert churned.sum() == 1673  # 71.0 % of 2,357 buy nothing in the holdout
    for name, (area, score) in CHURN.items():
        assert auc(scores[name], churned) == pytest.approx(area, abs=0.01), name
        assert brier(scores[name], churned) == pytest.approx(score, abs=0.005), name
    assert auc(scores["days_since_last_purchase"], churned) == pytest.approx(0.7714, abs=0.001)
    # mean P(no purchase) against the observed 0.710: the models expect too few holdout purchases
    assert scores["BG/NBD"].mean() == pytest.approx(0.738, abs=0.005)
    assert scores["MBG/NBD"].mean() == pytest.approx(0.760, abs=0.005)
