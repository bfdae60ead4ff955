"""Out-of-sample validation of the purchase models: calibrate, hold out, compare.

The figures of the BTYD literature (Fader, Hardie & Lee 2005) from one transaction log:

- `split`: per customer, the calibration summary (`clv.summary`) and the purchase days in the
  holdout; plus every repeat purchase day, for the tracking curve;
- `fit_models`: BG/NBD, MBG/NBD and Pareto/NBD fitted by `clv`'s own fitters;
- `cumulative_repeat_purchases`: cumulative repeat purchases per period, actual against
  Σ_i E[X(t − s_i)] over customers whose first purchase was at s_i;
- `conditional_expectations`: mean holdout purchases by calibration frequency (0, 1, ..., 7+);
- `holdout_errors`: per-customer mean absolute error and aggregate error of E[Y(holdout)],
  against a naive baseline (each customer's calibration repeat rate x / T carried forward);
- `churn_scores`: P(no purchase in the holdout) of the models that have it, days since the last
  purchase, and a recency-only probability fitted on other customers (see its docstring).

Purchases are counted as purchase *days*, as in `clv.summary` (same-day orders merge).

>>> import pandas as pd
>>> log = pd.DataFrame({"customer_id": [1, 1, 1, 2, 2],
...                     "date": ["1997-01-01", "1997-01-08", "1997-01-20", "1997-01-03", "1997-01-03"]})
>>> h = split(log, calibration_end="1997-01-14", holdout_end="1997-01-28", time_unit="weeks")
>>> h.customers[["frequency", "holdout_purchases", "first_day"]]  # doctest: +NORMALIZE_WHITESPACE
             frequency  holdout_purchases  first_day
customer_id
1                    1                  1          0
2                    0                  0          2
>>> h.horizon, h.repeat_days.tolist()
(2.0, [7, 19])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clv.bgnbd import fit_bgnbd
from clv.classification import cross_fitted_logistic
from clv.errors import InvalidDataError
from clv.mbgnbd import fit_mbgnbd
from clv.pareto_nbd import fit_pareto_nbd
from clv.summary import summary
from clv.units import days_per_unit

NAIVE = "naive (calibration rate)"


@dataclass(frozen=True)
class Holdout:
    """A transaction log split at ``calibration_end``.

    ``customers``: one row per customer who bought by ``calibration_end``, with `clv.summary`'s
    ``frequency, recency, T`` (in ``time_unit``), ``holdout_purchases`` (purchase days in
    (calibration_end, holdout_end]) and ``first_day`` (days from ``start``, the earliest first
    purchase). ``repeat_days``: days from ``start`` of every repeat purchase day of those
    customers up to ``holdout_end``. ``horizon``: the holdout's length in ``time_unit``.
    """

    customers: pd.DataFrame
    repeat_days: np.ndarray
    start: pd.Timestamp
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    time_unit: str

    @property
    def horizon(self) -> float:
        return (self.holdout_end - self.calibration_end).days / days_per_unit(self.time_unit)

    def cbs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, t_x, T)`` arrays of the calibration period."""
        c = self.customers
        return (
            c["frequency"].to_numpy(np.float64),
            c["recency"].to_numpy(np.float64),
            c["T"].to_numpy(np.float64),
        )


def split(
    transactions: pd.DataFrame,
    *,
    calibration_end: str | pd.Timestamp,
    holdout_end: str | pd.Timestamp,
    time_unit: str,
    customer_col: str = "customer_id",
    date_col: str = "date",
) -> Holdout:
    """Calibration summary and holdout purchase days per customer (see `Holdout`)."""
    calibration_end = pd.Timestamp(calibration_end).normalize()
    holdout_end = pd.Timestamp(holdout_end).normalize()
    if holdout_end <= calibration_end:
        raise InvalidDataError(
            f"holdout_end {holdout_end.date()} must be after calibration_end "
            f"{calibration_end.date()}"
        )
    cbs = summary(
        transactions,
        calibration_end=calibration_end,
        time_unit=time_unit,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=None,
    )
    days = pd.DataFrame(
        {
            "customer": transactions[customer_col].to_numpy(),
            "day": pd.to_datetime(transactions[date_col]).dt.tz_localize(None).dt.normalize(),
        }
    ).drop_duplicates()
    days = days[days["customer"].isin(cbs.index) & (days["day"] <= holdout_end)]
    first = days.groupby("customer")["day"].transform("min")
    start = first.min()
    repeat = days[days["day"] > first]
    in_holdout = repeat[repeat["day"] > calibration_end].groupby("customer").size()
    customers = cbs.assign(
        holdout_purchases=in_holdout.reindex(cbs.index, fill_value=0).astype(int),
        first_day=((days.groupby("customer")["day"].min() - start).dt.days).reindex(cbs.index),
    )
    return Holdout(
        customers=customers,
        repeat_days=np.sort((repeat["day"] - start).dt.days.to_numpy()),
        start=start,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        time_unit=time_unit,
    )


def fit_models(holdout: Holdout) -> dict[str, object]:
    """BG/NBD, MBG/NBD and Pareto/NBD fitted on the calibration period, by model name."""
    x, t_x, T = holdout.cbs()
    unit = holdout.time_unit
    return {
        "BG/NBD": fit_bgnbd(x, t_x, T, time_unit=unit),
        "MBG/NBD": fit_mbgnbd(x, t_x, T, time_unit=unit),
        "Pareto/NBD": fit_pareto_nbd(x, t_x, T, time_unit=unit),
    }


def cumulative_repeat_purchases(holdout: Holdout, models: dict, periods: int) -> pd.DataFrame:
    """Cumulative repeat purchase days at the end of periods 1..``periods``, actual and expected.

    Period k holds the days ``[(k−1)·L, k·L)`` from ``start`` (L = one time unit in days). At its
    end a customer whose first purchase was on day s has been watched for ``(k·L − 1 − s) / L``
    units: the same convention as T, which is measured to the calibration end's day. Expected =
    Σ over customers of the model's E[X(that age)].
    """
    length = days_per_unit(holdout.time_unit)
    k = np.arange(1, periods + 1)
    actual = np.searchsorted(holdout.repeat_days, k * length - 1, side="right")
    births = holdout.customers["first_day"].value_counts()  # customers per first day
    ages = np.maximum(k[:, None] * length - 1 - births.index.to_numpy()[None, :], 0) / length
    counts = births.to_numpy(np.float64)
    curve = {"actual": actual}
    for name, model in models.items():
        curve[name] = model.expected_purchases_new(ages) @ counts
    return pd.DataFrame(curve, index=pd.Index(k, name="period"))


def holdout_predictions(holdout: Holdout, models: dict) -> pd.DataFrame:
    """Per customer: holdout purchases, each model's E[Y(horizon)] and the naive baseline."""
    x, t_x, T = holdout.cbs()
    t = holdout.horizon
    columns = {"actual": holdout.customers["holdout_purchases"].to_numpy(np.float64)}
    for name, model in models.items():
        columns[name] = model.expected_purchases(t, x, t_x, T)
    columns[NAIVE] = np.where(T > 0, x / np.where(T > 0, T, 1.0), 0.0) * t
    return pd.DataFrame(columns, index=holdout.customers.index)


def conditional_expectations(
    predictions: pd.DataFrame, x: np.ndarray, top: int = 7
) -> pd.DataFrame:
    """Mean holdout purchases by calibration frequency 0..top−1 and ``top``+, actual and predicted.

    ``predictions`` is `holdout_predictions`; ``x`` the calibration frequencies in its order.
    """
    group = np.minimum(np.asarray(x, dtype=np.int64), top)
    labels = [str(g) if g < top else f"{top}+" for g in range(top + 1)]
    table = predictions.groupby(group).mean()
    table.insert(0, "customers", predictions.groupby(group).size())
    table.index = pd.Index([labels[g] for g in table.index], name="calibration frequency")
    return table


def holdout_errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per model and the naive baseline: MAE per customer, Σ predicted, Σ actual, error, error %."""
    actual = predictions["actual"]
    rows = {}
    for name in predictions.columns.drop("actual"):
        predicted = predictions[name]
        total_error = predicted.sum() - actual.sum()
        rows[name] = {
            "mae": float((predicted - actual).abs().mean()),
            "predicted": float(predicted.sum()),
            "actual": float(actual.sum()),
            "aggregate_error": float(total_error),
            "aggregate_error_pct": float(100 * total_error / actual.sum()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def churn_scores(holdout: Holdout, models: dict) -> pd.DataFrame:
    """Per customer: ``churned`` (no purchase day in the holdout) and the scores of it.

    - ``<model>``: the model's P(no purchase in the holdout), for models with ``p_no_purchase``;
    - ``days_since_last_purchase``: recency at the calibration end (a ranking, for AUC only);
    - ``recency probability``: a recency-only probability for the Brier score: a logistic
      regression of ``churned`` on days since the last purchase, cross-fitted over two folds of
      customers (odd / even position), so no customer's outcome enters their own probability.
      It still learns the holdout's base rate from the other half, which the BTYD models never
      see: an honest but favoured baseline. (A fit on an earlier split inside the calibration
      period cannot be had at the same horizon when the calibration period is no longer than
      the holdout, as on CDNOW: 39 weeks each.)
    """
    x, t_x, T = holdout.cbs()
    churned = (holdout.customers["holdout_purchases"] == 0).to_numpy(np.float64)
    scores = {"churned": churned}
    for name, model in models.items():
        if hasattr(model, "p_no_purchase"):
            scores[name] = model.p_no_purchase(holdout.horizon, x, t_x, T)
    recency_days = (T - t_x) * days_per_unit(holdout.time_unit)
    scores["days_since_last_purchase"] = recency_days
    fold = np.arange(len(churned)) % 2
    scores["recency probability"] = cross_fitted_logistic(recency_days, churned, fold)
    return pd.DataFrame(scores, index=holdout.customers.index)
