"""How well a score separates a yes/no outcome: AUC, Brier score, reliability table.

Used to judge churn scores out of sample (`clv.holdout`): the outcome is "no purchase in the
holdout", the score a model's probability of it, or any ranking (days since the last purchase).

>>> auc([0.1, 0.4, 0.4, 0.8], [0, 0, 1, 1])  # the tied pair counts one half
0.875
>>> round(brier([0.9, 0.2], [1, 0]), 3)
0.025
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import expit
from scipy.stats import rankdata

from clv.errors import InvalidDataError
from clv.inputs import float_array


def _outcome(outcome: ArrayLike, n: int) -> np.ndarray:
    y = float_array(outcome, "outcome")
    if y.shape != (n,) or not np.isin(y, (0.0, 1.0)).all():
        raise InvalidDataError(f"outcome must be {n} values of 0 or 1, one per score")
    return y


def auc(score: ArrayLike, outcome: ArrayLike) -> float:
    """P(score of a random positive > score of a random negative), ties counted 1/2.

    The Mann-Whitney U statistic from mid-ranks: ``(sum of the positives' ranks − n1(n1+1)/2) /
    (n1 n0)``; O(n log n), equal to the pairwise count.
    """
    s = float_array(score, "score").ravel()
    y = _outcome(np.ravel(outcome), len(s))
    n1 = float(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        raise InvalidDataError("AUC needs both outcomes: every outcome is the same")
    ranks = rankdata(s)  # ties share their mean rank
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def brier(probability: ArrayLike, outcome: ArrayLike) -> float:
    """Mean squared difference between a probability and the 0/1 outcome (lower is better)."""
    p = float_array(probability, "probability").ravel()
    y = _outcome(np.ravel(outcome), len(p))
    return float(np.mean((p - y) ** 2))


def reliability(probability: ArrayLike, outcome: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Per equal-width probability bin: customers, mean predicted probability, observed share.

    A calibrated score has ``predicted`` close to ``observed`` in every populated bin; empty
    bins are left out.
    """
    p = float_array(probability, "probability").ravel()
    y = _outcome(np.ravel(outcome), len(p))
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    frame = pd.DataFrame({"bin": index, "predicted": p, "observed": y})
    table = frame.groupby("bin").agg(
        customers=("observed", "size"),
        predicted=("predicted", "mean"),
        observed=("observed", "mean"),
    )
    table.insert(0, "upper", edges[table.index + 1])
    table.insert(0, "lower", edges[table.index])
    return table.reset_index(drop=True)


def fit_logistic(feature: ArrayLike, outcome: ArrayLike, iterations: int = 50) -> np.ndarray:
    """``(intercept, slope)`` of P(outcome = 1) = expit(intercept + slope · feature), by Newton.

    Maximum likelihood for one feature; the feature is standardised inside so Newton's steps
    stay well scaled, and the coefficients returned are on the original feature.
    """
    f = float_array(feature, "feature").ravel()
    y = _outcome(np.ravel(outcome), len(f))
    centre, spread = f.mean(), f.std() or 1.0
    design = np.column_stack([np.ones_like(f), (f - centre) / spread])
    beta = np.zeros(2)
    for _ in range(iterations):
        p = expit(design @ beta)
        step = np.linalg.solve((design.T * (p * (1 - p))) @ design, design.T @ (y - p))
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    slope = beta[1] / spread
    return np.array([beta[0] - slope * centre, slope])


def cross_fitted_logistic(feature: ArrayLike, outcome: ArrayLike, fold: ArrayLike) -> np.ndarray:
    """Each row's probability from a logistic fit (`fit_logistic`) on the *other* folds only.

    ``fold`` labels the rows (e.g. customer id modulo 2): no row's outcome is used to predict
    that row.
    """
    f = float_array(feature, "feature").ravel()
    y = _outcome(np.ravel(outcome), len(f))
    fold = np.ravel(fold)
    probability = np.empty_like(f)
    for label in np.unique(fold):
        held = fold == label
        intercept, slope = fit_logistic(f[~held], y[~held])
        probability[held] = expit(intercept + slope * f[held])
    return probability
