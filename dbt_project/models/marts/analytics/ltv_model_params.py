"""BG/NBD and Gamma-Gamma fitted by maximum likelihood (clv/) on customer_purchase_summary.

One row per model parameter, with the time unit the parameters are in, the model's
log-likelihood, the customers it was fitted on and the calibration end. Gamma-Gamma needs enough
repeat buyers (clv's minimum, 30); with fewer, customers are valued at the observed mean order
value instead (of their purchases up to the calibration end), recorded as the model "observed"
(parameter mean_order_value).

fit_status says how each fit ended: converged; no_dropout_limit (BG/NBD at a / (a + b) = 0, where
it is the NBD model) or common_dropout_limit (a + b -> infinity: one dropout probability for
everyone), where customer_ltv predicts with that limit and says so per row; or not_converged (the
blocking check ltv_fit_converged stops the syncs that use LTV).

Data the purchase model cannot be fitted on yet (no customer at all, or nobody with a repeat
purchase) is not an error: the model gives
one row with model_status 'not_estimable', the reason in model_status_reason and no parameter,
and customer_ltv and churn_risk carry that status with null predictions. Fitted rows have
model_status 'fitted' and no reason.
"""

import numpy as np
import pandas as pd

import clv

TIME_UNIT = "days"
FITTED = "fitted"
NOT_ESTIMABLE = "not_estimable"

# The columns and their types, also when the model gives only a not-estimable row.
COLUMNS = {
    "model": "string",
    "parameter": "string",
    "value": "float64",
    "time_unit": "string",
    "log_likelihood": "float64",
    "customers": "Int64",
    "converged": "boolean",
    "fit_status": "string",
    "calibration_end": "datetime64[us]",
    "model_status": "string",
    "model_status_reason": "string",
}


def pandas_frame(relation) -> pd.DataFrame:
    """A referenced model as pandas: a DuckDB relation (``.df()``) on DuckDB, a Spark DataFrame
    (``.toPandas()``) on Spark (orchestration/spark_python_models.py)."""
    return relation.toPandas() if hasattr(relation, "toPandas") else relation.df()


def fit_status(fitted) -> str | None:
    """converged; no_dropout_limit (BG/NBD ran to a / (a + b) = 0: the data show no dropout, and
    customer_ltv predicts with the NBD limit, on purpose); common_dropout_limit (a and b ran off
    together: one dropout probability a / (a + b) for everyone, clv.CommonDropout);
    not_converged (anything else: the blocking check ltv_fit_converged fails and the syncs that
    use LTV stop); None without a fit (the observed mean order value)."""
    if fitted is None:
        return None
    if isinstance(fitted, clv.BGNBD) and fitted.at_no_dropout_limit:
        return "no_dropout_limit"
    if isinstance(fitted, clv.BGNBD) and fitted.at_common_dropout_limit:
        return "common_dropout_limit"
    return "converged" if fitted.converged else "not_converged"


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
            "fit_status": fit_status(fitted),
            "calibration_end": calibration_end,
            "model_status": FITTED,
            "model_status_reason": None,
        }
        for parameter, value in params.items()
    ]


def not_estimable_reason(summary: pd.DataFrame) -> str | None:
    """Why BG/NBD cannot be fitted on ``summary`` yet, in words and numbers; None when it can."""
    customers = len(summary)
    if customers == 0:
        return "no customers yet (no purchase recorded)"
    repeat = int((summary["frequency"] > 0).sum())
    if repeat == 0:  # also the first day of data: every age T is 0 then
        return f"no customer has a repeat purchase yet (0 of {customers} customers)"
    return None


def _not_estimable(reason: str, customers: int, calibration_end) -> list[dict]:
    return [
        {
            "model": "bgnbd",
            "parameter": None,
            "value": None,
            "time_unit": TIME_UNIT,
            "log_likelihood": None,
            "customers": customers,
            "converged": None,
            "fit_status": None,
            "calibration_end": calibration_end,
            "model_status": NOT_ESTIMABLE,
            "model_status_reason": reason,
        }
    ]


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["calibration_end"] = pd.to_datetime(frame["calibration_end"])
    return frame.astype(COLUMNS)


def model(dbt, session):
    dbt.config(materialized="table")
    # a fixed row order: the likelihood's float sums (and so the fitted parameters, to the last
    # bit) must not depend on the order the warehouse returns rows in (issue 12)
    summary = (
        pandas_frame(dbt.ref("customer_purchase_summary"))
        .sort_values("user_id", kind="stable")
        .reset_index(drop=True)
    )
    calibration_end = summary["calibration_end"].max() if len(summary) else None
    reason = not_estimable_reason(summary)
    if reason is None:
        try:
            purchases = clv.fit_bgnbd(
                summary["frequency"].to_numpy(float),
                summary["recency_days"].to_numpy(float),
                summary["age_days"].to_numpy(float),
                time_unit=TIME_UNIT,
            )
        except clv.InsufficientDataError as error:  # a case not foreseen above: say so
            reason = str(error)
    if reason is not None:
        return _frame(_not_estimable(reason, len(summary), calibration_end))
    rows = _rows("bgnbd", purchases.params, TIME_UNIT, purchases, calibration_end)
    repeat = summary[summary["frequency"] > 0]
    try:
        spend = clv.fit_gamma_gamma(
            repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float)
        )
        rows += _rows("gamma_gamma", spend.params, None, spend, calibration_end)
    except clv.InsufficientDataError:
        # the mean order value of the customers' purchases up to the calibration end (as_of),
        # never of orders after it; sorted: the same sum in any row order
        revenue = float(np.sort(summary["order_revenue"].to_numpy(float)).sum())
        mean = revenue / int(summary["orders"].sum())
        rows += _rows("observed", {"mean_order_value": mean}, None, None, calibration_end)
    return _frame(rows)
