"""Predicted customer lifetime value per customer, from the models in ltv_model_params.

Per customer: historical LTV (net revenue so far), P(alive) (BG/NBD), the probability of no
purchase in the next 90 days (BG/NBD's closed form, read by churn_risk), expected purchases over
the next 90 and 365 days, expected order value (Gamma-Gamma; the population mean for customers
without repeat purchases), the 12-month CLV discounted at ltv_monthly_discount_rate (a config in
dbt_project.yml) and an LTV tier (ltv_tiers): "high" for the top 20% of predicted 12-month CLV,
"medium" for the next 30%, "low" for the rest, equal predictions sharing a tier. Times are in
the unit the parameters were fitted in (days).

When ltv_model_params is not estimable yet (no repeat buyer, no customer), every customer is
still here with their history, model_status 'not_estimable' and its reason, and null
predictions (P(alive), expected purchases and order value, predicted LTV, tier).
"""

import numpy as np
import pandas as pd

import clv


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


def _not_estimable(summary: pd.DataFrame, params: pd.DataFrame) -> pd.DataFrame:
    """Every customer's history, no predictions, and the status and reason of the model."""
    status = params.iloc[0]
    frame = _history(summary)
    for column, dtype in PREDICTIONS.items():
        frame[column] = pd.Series(float("nan"), index=frame.index, dtype=dtype)
    frame["time_unit"] = pd.Series(status["time_unit"], index=frame.index, dtype="string")
    frame["calibration_end"] = pd.to_datetime(summary["calibration_end"]).astype("datetime64[us]")
    frame["ltv_tier"] = pd.Series(None, index=frame.index, dtype="string")
    frame["model_status"] = pd.Series(status["model_status"], index=frame.index, dtype="string")
    frame["model_status_reason"] = pd.Series(
        status["model_status_reason"], index=frame.index, dtype="string"
    )
    return frame


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
        dbt.ref("customer_purchase_summary")
        .df()
        .sort_values("user_id", kind="stable")
        .reset_index(drop=True)
    )
    params = dbt.ref("ltv_model_params").df()
    if (params["model_status"] != "fitted").any():
        return _not_estimable(summary, params)
    bgnbd = _model(params, "bgnbd")
    purchases = clv.BGNBD(**bgnbd["params"], time_unit=bgnbd["time_unit"])
    fitted_spend = (params["model"] == "gamma_gamma").any()

    x = summary["frequency"].to_numpy(float)
    t_x = summary["recency_days"].to_numpy(float)
    age = summary["age_days"].to_numpy(float)
    zbar = summary["monetary_value"].to_numpy(float)
    # horizons are days: convert them when the parameters are in another unit
    per_day = 1.0 / clv.units.days_per_unit(purchases.time_unit)
    if fitted_spend:
        spend = clv.GammaGamma(**_model(params, "gamma_gamma")["params"])
        order_value = spend.expected_order_value(x, zbar)  # the population mean when x = 0
        predicted = clv.clv(
            purchases, spend, x, t_x, age, zbar, months=12, monthly_discount_rate=discount
        )
    else:  # too few repeat buyers for Gamma-Gamma: the observed mean order value for everyone
        order_value = np.full(len(x), _model(params, "observed")["params"]["mean_order_value"])
        months = np.arange(1, 13)
        horizon = months[:, None] * 365.25 / 12 * per_day
        cumulative = np.vstack(
            [np.zeros(len(x))] + [purchases.expected_purchases(h, x, t_x, age) for h in horizon]
        )
        monthly = np.diff(cumulative, axis=0) / (1 + discount) ** months[:, None]
        predicted = order_value * monthly.sum(axis=0)
    # With little data the fit can run to its boundary (a -> 0, b -> infinity: nobody drops out)
    # where the hypergeometric terms overflow. That limit of BG/NBD is the NBD model, whose
    # expected purchases are the posterior rate (r + x) / (alpha + T) times the horizon.
    e90 = purchases.expected_purchases(90 * per_day, x, t_x, age)
    e365 = purchases.expected_purchases(365 * per_day, x, t_x, age)
    limit = ~(np.isfinite(e90) & np.isfinite(e365) & np.isfinite(predicted))
    if limit.any():
        params = purchases.params
        rate = (params["r"] + x) / (params["alpha"] + age)  # purchases per model time unit
        e90 = np.where(limit, rate * 90 * per_day, e90)
        e365 = np.where(limit, rate * 365 * per_day, e365)
        month = 365.25 / 12 * per_day
        discounted = sum(rate * month / (1 + discount) ** m for m in range(1, 13))
        predicted = np.where(limit, order_value * discounted, predicted)
    # BG/NBD's own chance of no repeat purchase in the next 90 days (ltv.md §1): P(dead) +
    # P(alive)·((α+T)/(α+T+t))^(r+x); finite at the no-dropout boundary too (P(alive) -> 1)
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
    frame["model_status"] = "fitted"
    frame["model_status_reason"] = pd.Series(None, index=frame.index, dtype="string")
    return frame
