"""Dagster metadata for the LTV models: their status, and a warning when not estimable."""

# No `from __future__ import annotations`: kept like the other transform modules.
import dagster as dg
import duckdb

from reports.ltv_status import LTV_MODELS, fit_problems, not_estimable_reason, warning_text


def ltv_status_metadata(context, con: duckdb.DuckDBPyConnection, relation: str) -> dict:
    """For analytics.ltv_model_params, customer_ltv and churn_risk: ``ltv_model_status``
    (fitted or not_estimable) and ``ltv_model_warning`` with the reason when not estimable, or
    with what is wrong with a fitted model (reports.ltv_status.fit_problems), also logged as a
    warning. Nothing for other relations."""
    schema, _, name = relation.rpartition(".")
    if schema != "analytics" or name not in LTV_MODELS:
        return {}
    reason = not_estimable_reason(con)
    if reason is None:
        problems = fit_problems(con)
        for problem in problems:
            context.log.warning(f"{relation}: {problem}")
        return {"ltv_model_status": dg.MetadataValue.text("fitted")} | (
            {"ltv_model_warning": dg.MetadataValue.text("; ".join(problems))} if problems else {}
        )
    text = warning_text(reason)
    context.log.warning(f"{relation}: {text}")
    return {
        "ltv_model_status": dg.MetadataValue.text("not_estimable"),
        "ltv_model_warning": dg.MetadataValue.text(text),
    }
