"""Whether the LTV models could be fitted, read from the warehouse for the report and Dagster.

On data the purchase model cannot identify yet (no customer, no repeat buyer) the LTV models
build with model_status 'not_estimable' and a reason (docs/metrics.md, "When the LTV model is not
estimable"); this module turns that into one warning sentence. A fit that did not converge, or
predictions that are not finite, fail the blocking checks ltv_fit_converged and
ltv_predictions_finite and hold back the syncs that use LTV; the report and Dagster say so here,
and name the deliberate NBD limit (a fit that found no dropout) when it is used.
"""

from __future__ import annotations

import html

import duckdb

LTV_MODELS = ("ltv_model_params", "customer_ltv", "churn_risk")


def not_estimable_reason(con: duckdb.DuckDBPyConnection) -> str | None:
    """The reason the LTV model is not estimable, or None when it was fitted (or not built)."""
    try:
        row = con.execute(
            """select model_status_reason from analytics.ltv_model_params
               where model_status = 'not_estimable' limit 1"""
        ).fetchone()
    except duckdb.Error:  # not built yet, or built before model_status existed
        return None
    return None if row is None else (row[0] or "no reason recorded")


def withheld_reason(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why customer_ltv holds no predictions (not estimable, or a fit that did not converge), or
    None when it has them (or is not built)."""
    try:
        row = con.execute(
            """select model_status_reason from analytics.customer_ltv
               where model_status <> 'fitted' limit 1"""
        ).fetchone()
    except duckdb.Error:
        return None
    return None if row is None else (row[0] or "no reason recorded")


def fit_problems(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Sentences on a fitted model that must not drive audiences (a fit that did not converge,
    predictions that are not finite) or that predicts with its deliberate fallback; [] when
    there is nothing to say (or nothing built)."""
    try:
        fits = con.execute(
            """select model, fit_status from analytics.ltv_model_params
               where model_status = 'fitted' and fit_status is not null
               group by all order by model"""
        ).fetchall()
        not_finite = con.execute(
            """select count(*) from analytics.customer_ltv
               where model_status = 'fitted' and not coalesce(
                   isfinite(p_alive) and isfinite(p_no_purchase_90d)
                   and isfinite(expected_purchases_90d) and isfinite(expected_purchases_365d)
                   and isfinite(expected_order_value) and isfinite(predicted_ltv_12m), false)"""
        ).fetchone()[0]
    except duckdb.Error:  # not built yet, or built before fit_status existed
        return []
    held = "the syncs that send or filter on predicted LTV or churn are held back"
    problems = [
        f"the {model} fit did not converge (check ltv_fit_converged): {held} until it does; "
        "more history usually fixes it (docs/metrics.md)"
        for model, status in fits
        if status == "not_converged"
    ]
    if not_finite:
        problems.append(
            f"{not_finite:,} customers have predictions that are not finite numbers (check "
            f"ltv_predictions_finite): {held}"
        )
    if any(status == "common_dropout_limit" for _, status in fits):
        problems.append(
            "the data do not tell customers' dropout probabilities apart yet, so BG/NBD predicts "
            "with one dropout probability for everyone, its common-dropout limit "
            "(customer_ltv.purchase_method common_dropout_limit)"
        )
    if any(status == "no_dropout_limit" for _, status in fits):
        problems.append(
            "no customer dropout is visible yet, so BG/NBD predicts as its no-dropout limit, "
            "the NBD model (customer_ltv.purchase_method nbd_limit): expect high predictions "
            "until dropouts show"
        )
    return problems


def warning_text(reason: str) -> str:
    """What a not-estimable model means for the user, in one sentence."""
    return (
        f"LTV model not estimable yet: {reason}. Predicted LTV, LTV tiers and churn scores are "
        "empty until customers buy again; aud_at_risk_high_value selects by historical revenue "
        "meanwhile (docs/metrics.md)."
    )


def warning_html(con: duckdb.DuckDBPyConnection) -> str:
    """A visible warning paragraph for the report, or "" when the model was fitted."""
    reason = not_estimable_reason(con)
    texts = [warning_text(reason)] if reason is not None else fit_problems(con)
    return "".join(
        f'<p class="warning"><strong>Warning:</strong> {html.escape(text)}</p>' for text in texts
    )
