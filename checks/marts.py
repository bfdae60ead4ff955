"""Suites on the core and analytics marts: the facts agree with each other, the models are sane.

dbt's own tests check each model's contract (keys unique, values accepted); these look across
models and at distributions, where a wrong join or a failed fit shows.
"""

from __future__ import annotations

import pandas as pd

from checks.suite import Suite, between, contains_values, not_null, positive_finite, rows_between
from checks.thresholds import Thresholds

BGNBD_PARAMETERS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMETERS = ("p", "q", "gamma")


def people_have_events_suite(t: Thresholds) -> Suite:
    """Every person in dim_users has events in fct_events, and a positive lifetime_events
    (blocking): a person without events is a broken identity map or a stale incremental run."""
    return Suite(
        name="people_have_events",
        asset=("core", "dim_users"),
        severity="blocking",
        description="Every person in core.dim_users has events in core.fct_events and "
        "lifetime_events > 0.",
        query="""
            select users.user_id, users.lifetime_events, count(events.user_id) as fct_events
            from core.dim_users as users
            left join core.fct_events as events on events.user_id = users.user_id
            group by users.user_id, users.lifetime_events
            order by users.user_id
        """,
        expectations=lambda frame: [
            not_null("user_id", "every person has a user_id"),
            between("fct_events", "every person has events in fct_events", min_value=1),
            between("lifetime_events", "every person has lifetime_events > 0", min_value=1),
        ],
    )


def order_revenue_suite(t: Thresholds) -> Suite:
    """Purchases carry revenue >= 0 and refunds <= 0 (blocking): a sign error would flow into
    RFM monetary scores and LTV."""
    return Suite(
        name="revenue_signs",
        asset=("core", "fct_orders"),
        severity="blocking",
        description="In core.fct_orders revenue is >= 0 except on refunds (is_refund), "
        "whose revenue is <= 0.",
        query="""
            select order_id, user_id, ordered_at, is_refund,
                   cast(revenue as double) as revenue,
                   case when not is_refund then cast(revenue as double) end as purchase_revenue,
                   case when is_refund then cast(revenue as double) end as refund_revenue
            from core.fct_orders
            order by ordered_at, order_id
        """,
        expectations=lambda frame: [
            not_null("order_id", "every order has an order_id"),
            not_null("is_refund", "every order says whether it is a refund"),
            between("purchase_revenue", "purchases have revenue >= 0", min_value=0),
            between("refund_revenue", "refunds have revenue <= 0", max_value=0),
        ],
    )


def rfm_segments_suite(t: Thresholds) -> Suite:
    """No RFM segment holds more than ``max_segment_share`` of customers, and there are at least
    ``min_segments`` segments above ``min_customers_for_segments`` customers (warning: a
    plausibility rule, a small or young shop can be lopsided)."""

    def expectations(frame: pd.DataFrame):
        expects = [
            between(
                "share",
                f"no segment holds more than {t.max_segment_share:.0%} of customers",
                max_value=t.max_segment_share,
            )
        ]
        customers = int(frame["customers"].sum()) if len(frame) else 0
        if customers > t.min_customers_for_segments:
            expects.append(
                rows_between(
                    f"at least {t.min_segments} segments once there are more than "
                    f"{t.min_customers_for_segments} customers",
                    min_value=t.min_segments,
                )
            )
        return expects

    return Suite(
        name="rfm_segment_shares",
        asset=("analytics", "user_rfm"),
        severity="warning",
        description=(
            f"No RFM segment holds more than {t.max_segment_share:.0%} of customers; at least "
            f"{t.min_segments} segments when there are more than "
            f"{t.min_customers_for_segments} customers."
        ),
        query="""
            select coalesce(rfm_segment, '(none)') as rfm_segment,
                   count(*) as customers,
                   round(count(*) / sum(count(*)) over (), 4) as share
            from analytics.user_rfm
            group by all
            order by customers desc, rfm_segment
        """,
        expectations=expectations,
        params={
            "max_segment_share": t.max_segment_share,
            "min_segments": t.min_segments,
            "min_customers_for_segments": t.min_customers_for_segments,
        },
    )


def ltv_parameters_suite(t: Thresholds) -> Suite:
    """BG/NBD's r, alpha, a, b and Gamma-Gamma's p, q, gamma (when fitted) are there, positive
    and finite (blocking: predicted LTV goes to HubSpot). A model that is not estimable yet (no
    repeat buyer, no customer) is a result, not a failure: then the table is its one status row,
    with the reason."""

    def expectations(frame: pd.DataFrame):
        if (frame["model_status"] == "not_estimable").any():
            return [
                rows_between("a not-estimable model is one status row", 1, 1),
                not_null("model_status_reason", "a not-estimable model says why"),
            ]
        expects = [
            not_null("value", "every parameter has a value"),
            positive_finite("value", "every parameter is > 0 and finite"),
            contains_values("parameter", BGNBD_PARAMETERS, "BG/NBD's r, alpha, a and b are fitted"),
        ]
        if "gamma_gamma" in set(frame["model"]):
            expects.append(
                contains_values(
                    "parameter", GAMMA_GAMMA_PARAMETERS, "Gamma-Gamma's p, q and gamma are fitted"
                )
            )
        return expects

    return Suite(
        name="ltv_parameters_in_range",
        asset=("analytics", "ltv_model_params"),
        severity="blocking",
        description="The LTV models' parameters (BG/NBD r, alpha, a, b; Gamma-Gamma p, q, gamma "
        "or the observed mean order value) exist and are positive and finite, or the model is "
        "not estimable yet and says why.",
        query="""
            select model, parameter, value, time_unit, customers, model_status,
                   model_status_reason
            from analytics.ltv_model_params
            order by model, parameter
        """,
        expectations=expectations,
    )


def churn_scores_suite(t: Thresholds) -> Suite:
    """Every churn score is a probability (blocking: it goes to HubSpot). Customers of a
    not-estimable LTV model have no score yet (churn_risk.model_status) and are not checked."""
    return Suite(
        name="churn_scores_in_range",
        asset=("analytics", "churn_risk"),
        severity="blocking",
        description="Every analytics.churn_risk.churn_score is set and lies in [0, 1] (customers "
        "of a not-estimable LTV model have none).",
        query="""
            select user_id, churn_score, churn_band from analytics.churn_risk
            where model_status is distinct from 'not_estimable'
            order by user_id
        """,
        expectations=lambda frame: [
            not_null("churn_score", "every customer has a churn score"),
            between("churn_score", "churn scores lie in [0, 1]", 0, 1),
        ],
    )


def core_suites(t: Thresholds) -> list[Suite]:
    return [people_have_events_suite(t), order_revenue_suite(t)]


def analytics_suites(t: Thresholds) -> list[Suite]:
    return [rfm_segments_suite(t), ltv_parameters_suite(t), churn_scores_suite(t)]
