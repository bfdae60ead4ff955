"""Whether the LTV models could be fitted, read from the warehouse for the report and Dagster.

On data the purchase model cannot identify yet (no customer, no repeat buyer) the LTV models
build with model_status 'not_estimable' and a reason (docs/metrics.md, "When the LTV model is not
estimable"); this module turns that into one warning sentence.
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
    if reason is None:
        return ""
    return f'<p class="warning"><strong>Warning:</strong> {html.escape(warning_text(reason))}</p>'
