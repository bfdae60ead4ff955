"""Predicted customer lifetime value per customer, from the models in ltv_model_params.

Per customer: historical LTV (net revenue so far), P(alive) (BG/NBD), the probability of no
purchase in the next 90 days (BG/NBD's closed form, read by churn_risk), expected purchases over
the next 90 and 365 days, expected order value (Gamma-Gamma; the population mean for customers
without repeat purchases), the 12-month CLV discounted at ltv_monthly_discount_rate (a config in
dbt_project.yml) and an LTV tier (ltv_tiers): "high" for the top 20% of predicted 12-month CLV,
"medium" for the next 30%, "low" for the rest, equal predictions sharing a tier. Times are in
the unit the parameters were fitted in (days).

Each row says which methods produced it: purchase_method bgnbd; nbd_limit when the BG/NBD fit
ran to its no-dropout boundary (ltv_model_params.fit_status no_dropout_limit: the data show no
dropout, and BG/NBD is then the NBD model); common_dropout_limit when a and b ran off together
(one dropout probability for everyone, clv.CommonDropout). spend_method gamma_gamma, or
observed_mean with too few repeat buyers for Gamma-Gamma. A prediction that is not finite is kept
as it is, and the blocking check ltv_predictions_finite stops the syncs that use LTV. A fit that
did not converge otherwise (ltv_model_params.fit_status not_converged) gives no predictions at
all: model_status not_converged with the fit's numbers as the reason, and the blocking check
ltv_fit_converged holds back the syncs that use LTV.

When ltv_model_params is not estimable yet (no repeat buyer, no customer), every customer is
still here with their history, model_status 'not_estimable' and its reason, and null
predictions (P(alive), expected purchases and order value, predicted LTV, tier).
"""

import numpy as np
import pandas as pd

import clv


def pandas_frame(relation) -> pd.DataFrame:
    """A referenced model as pandas: a DuckDB relation (``.df()``) on DuckDB, a Spark DataFrame
    (``.toPandas()``) on Spark (orchestration/spark_python_models.py)."""
    return relation.toPandas() if hasattr(relation, "toPandas") else relation.df()


def _model(params: pd.DataFrame, name: str) -> dict:
    rows = params[params["model"] == name]
    return {
        "params": dict(zip(rows["parameter"], rows["value"], strict=True)),
        "time_unit": rows["time_unit"].iloc[0],
    }


PREDICTIONS = {
    "p_alive": "float64",
    "p_no_purchase_90d": "float64",
    "expected_purchases_90d": "float64",
    "expected_purchases_365d": "float64",
    "expected_order_value": "float64",
    "predicted_ltv_12m": "float64",
}


def _history(summary: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": summary["user_id"].astype("string"),
            "historical_ltv": summary["historical_revenue"].astype(float),
            "frequency": summary["frequency"].astype("int64"),
            "recency_days": summary["recency_days"].astype("int64"),
            "age_days": summary["age_days"].astype("int64"),
        }
    )


def _without_predictions(
    summary: pd.DataFrame, time_unit: str, status: str, reason: str
) -> pd.DataFrame:
    """Every customer's history, no predictions, and why (``status`` and ``reason``)."""
    frame = _history(summary)
    for column, dtype in PREDICTIONS.items():
        frame[column] = pd.Series(float("nan"), index=frame.index, dtype=dtype)
    frame["time_unit"] = pd.Series(time_unit, index=frame.index, dtype="string")
    frame["calibration_end"] = pd.to_datetime(summary["calibration_end"]).astype("datetime64[us]")
    frame["ltv_tier"] = pd.Series(None, index=frame.index, dtype="string")
    for column in ("purchase_method", "spend_method"):
        frame[column] = pd.Series(None, index=frame.index, dtype="string")
    frame["model_status"] = pd.Series(status, index=frame.index, dtype="string")
    frame["model_status_reason"] = pd.Series(reason, index=frame.index, dtype="string")
    return frame


NOT_CONVERGED = "not_converged"


def not_converged_reason(params: pd.DataFrame) -> str | None:
    """Why the fitted models must not predict (a fit that did not converge), with the numbers;
    None when every fit converged or reached a named limit (ltv_model_params.fit_status)."""
    failed = params[params["fit_status"] == NOT_CONVERGED]
    if failed.empty:
        return None
    fits = []
    for model, rows in failed.groupby("model", sort=True):
        values = ", ".join(
            f"{p} = {v:.4g}" for p, v in zip(rows["parameter"], rows["value"], strict=True)
        )
        fits.append(f"{model} ({values}; {int(rows['customers'].iloc[0])} customers)")
    return (
        "the maximum-likelihood fit did not converge: "
        + "; ".join(fits)
        + ". Predictions are withheld and the syncs that use them are held back (check "
        "ltv_fit_converged); more history usually lets the fit converge"
    )


class ObservedMean:
    """The spend model when Gamma-Gamma cannot be fitted: every customer's expected order value
    is the observed mean order value (ltv_model_params, model "observed")."""

    def __init__(self, mean: float):
        self.mean = float(mean)

    def expected_order_value(self, x, zbar) -> np.ndarray:
        return np.full(np.shape(x), self.mean)


def ltv_tiers(predicted: pd.Series) -> np.ndarray:
    """high / medium / low by A = the customers whose prediction is at least this one's (the
    whole tie block counted): high when A <= 20% of customers, medium when A <= 50%, else low
    (and low without a prediction). Equal predictions (every one-time buyer of the same first
    day has one) always share a tier; a tie block straddling a cut goes to the lower tier, so
    the result does not depend on row order (docs/metrics.md)."""
    at_or_above = predicted.rank(method="max", ascending=False).to_numpy()
    n = max(len(predicted), 1)
    return np.select([at_or_above <= 0.2 * n, at_or_above <= 0.5 * n], ["high", "medium"], "low")


def model(dbt, session):
    dbt.config(materialized="table")
    discount = float(dbt.config.get("ltv_monthly_discount_rate") or 0.01)
    summary = (
        pandas_frame(dbt.ref("customer_purchase_summary"))
        .sort_values("user_id", kind="stable")
        .reset_index(drop=True)
    )
    params = pandas_frame(dbt.ref("ltv_model_params"))
    if (params["model_status"] != "fitted").any():
        status = params.iloc[0]
        return _without_predictions(
            summary, status["time_unit"], status["model_status"], status["model_status_reason"]
        )
    reason = not_converged_reason(params)
    if reason is not None:
        return _without_predictions(summary, "days", NOT_CONVERGED, reason)
    bgnbd = _model(params, "bgnbd")
    purchases = clv.BGNBD(**bgnbd["params"], time_unit=bgnbd["time_unit"])
    # At the no-dropout boundary (ltv_model_params.fit_status no_dropout_limit) BG/NBD is the
    # NBD model, at a + b -> infinity (common_dropout_limit) one with a single dropout
    # probability; their formulas stay finite where BG/NBD's overflow. Anywhere else BG/NBD's
    # own, and a prediction
    # that is not finite stays so, for the blocking check ltv_predictions_finite to stop the
    # syncs that use it (never replaced without a trace).
    status = params.loc[params["model"] == "bgnbd", "fit_status"].iloc[0]
    if status == "no_dropout_limit":
        purchases, purchase_method = purchases.no_dropout_limit(), "nbd_limit"
    elif status == "common_dropout_limit":
        purchases, purchase_method = purchases.common_dropout_limit(), "common_dropout_limit"
    else:
        purchase_method = "bgnbd"
    fitted_spend = (params["model"] == "gamma_gamma").any()

    x = summary["frequency"].to_numpy(float)
    t_x = summary["recency_days"].to_numpy(float)
    age = summary["age_days"].to_numpy(float)
    zbar = summary["monetary_value"].to_numpy(float)
    # horizons are days: convert them when the parameters are in another unit
    per_day = 1.0 / clv.units.days_per_unit(purchases.time_unit)
    if fitted_spend:
        spend = clv.GammaGamma(**_model(params, "gamma_gamma")["params"])
    else:  # too few repeat buyers for Gamma-Gamma: the observed mean order value for everyone
        mean = _model(params, "observed")["params"]["mean_order_value"]
        spend = ObservedMean(mean)
    order_value = spend.expected_order_value(x, zbar)  # the population mean when x = 0
    predicted = clv.clv(
        purchases, spend, x, t_x, age, zbar, months=12, monthly_discount_rate=discount
    )
    e90 = purchases.expected_purchases(90 * per_day, x, t_x, age)
    e365 = purchases.expected_purchases(365 * per_day, x, t_x, age)
    # the model's own chance of no repeat purchase in the next 90 days (ltv.md §1): BG/NBD's
    # P(dead) + P(alive)·((α+T)/(α+T+t))^(r+x), or NBD's ((α+T)/(α+T+t))^(r+x)
    p_no_purchase_90d = purchases.p_no_purchase(90 * per_day, x, t_x, age)
    frame = pd.DataFrame(
        {
            "user_id": summary["user_id"],
            "historical_ltv": summary["historical_revenue"].astype(float),
            "frequency": summary["frequency"],
            "recency_days": summary["recency_days"],
            "age_days": summary["age_days"],
            "p_alive": purchases.p_alive(x, t_x, age),
            "p_no_purchase_90d": p_no_purchase_90d,
            "expected_purchases_90d": e90,
            "expected_purchases_365d": e365,
            "expected_order_value": order_value,
            "predicted_ltv_12m": predicted,
            "time_unit": purchases.time_unit,
            "calibration_end": summary["calibration_end"],
        }
    )
    frame["ltv_tier"] = ltv_tiers(frame["predicted_ltv_12m"])
    frame["purchase_method"] = purchase_method
    frame["spend_method"] = "gamma_gamma" if fitted_spend else "observed_mean"
    frame["model_status"] = "fitted"
    frame["model_status_reason"] = pd.Series(None, index=frame.index, dtype="string")
    return frame
