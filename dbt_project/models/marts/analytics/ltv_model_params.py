"""BG/NBD and Gamma-Gamma fitted by maximum likelihood (clv/) on customer_purchase_summary.

One row per model parameter, with the time unit the parameters are in, the model's
log-likelihood, the customers it was fitted on and the calibration end. Gamma-Gamma needs enough
repeat buyers (clv's minimum, 30); with fewer, customers are valued at the observed mean order
value instead, recorded as the model "observed" (parameter mean_order_value).
"""

import pandas as pd

import clv

TIME_UNIT = "days"


def _rows(name, params, unit, fitted, calibration_end):
    return [
        {
            "model": name,
            "parameter": parameter,
            "value": float(value),
            "time_unit": unit,
            "log_likelihood": None if fitted is None else float(fitted.log_likelihood),
            "customers": None if fitted is None else int(fitted.n_customers),
            "converged": None if fitted is None else bool(fitted.converged),
            "calibration_end": calibration_end,
        }
        for parameter, value in params.items()
    ]


def model(dbt, session):
    dbt.config(materialized="table")
    summary = dbt.ref("customer_purchase_summary").df()
    calibration_end = summary["calibration_end"].max()
    x = summary["frequency"].to_numpy(float)
    purchases = clv.fit_bgnbd(
        x,
        summary["recency_days"].to_numpy(float),
        summary["age_days"].to_numpy(float),
        time_unit=TIME_UNIT,
    )
    rows = _rows("bgnbd", purchases.params, TIME_UNIT, purchases, calibration_end)
    repeat = summary[summary["frequency"] > 0]
    try:
        spend = clv.fit_gamma_gamma(
            repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float)
        )
        rows += _rows("gamma_gamma", spend.params, None, spend, calibration_end)
    except clv.InsufficientDataError:
        orders = dbt.ref("fct_orders").df()
        mean = float(orders.loc[~orders["is_refund"], "revenue"].astype(float).mean())
        rows += _rows("observed", {"mean_order_value": mean}, None, None, calibration_end)
    return pd.DataFrame(rows)
