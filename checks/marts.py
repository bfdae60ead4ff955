"""Suites on the core and analytics marts: the facts agree with each other, the models are sane.

dbt's own tests check each model's contract (keys unique, values accepted); these look across
models and at distributions, where a wrong join or a failed fit shows.
"""

from __future__ import annotations

import pandas as pd

from checks.suite import (
    Suite,
    between,
    contains_values,
    in_set,
    is_null,
    not_null,
    positive_finite,
    rows_between,
)
from checks.thresholds import Thresholds

BGNBD_PARAMETERS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMETERS = ("p", "q", "gamma")
#: how a fit may end and still drive audiences (ltv_model_params.fit_status)
SOUND_FITS = ("converged", "no_dropout_limit", "common_dropout_limit")
#: customer_ltv's predictions, each finite for every customer of a fitted model
PREDICTIONS = (
    "p_alive",
    "p_no_purchase_90d",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_order_value",
    "predicted_ltv_12m",
)


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
            select users.user_id, users.lifetime_events, coalesce(events.n, 0) as fct_events
            from core.dim_users as users
            left join (
                -- counted before the join: 2.5x faster than grouping the joined events
                select user_id, count(*) as n from core.fct_events group by user_id
            ) as events on events.user_id = users.user_id
        """,
        pushdown=True,
        order_by="user_id",
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
        """,
        pushdown=True,
        order_by="ordered_at, order_id",
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


def ltv_fit_suite(t: Thresholds) -> Suite:
    """Every fitted LTV model converged (blocking: a fit that stopped anywhere else must not
    drive audiences). BG/NBD at its no-dropout or common-dropout limit passes: customer_ltv then
    predicts with that limit on purpose and names it per row (purchase_method)."""
    return Suite(
        name="ltv_fit_converged",
        asset=("analytics", "ltv_model_params"),
        severity="blocking",
        description="The BG/NBD and Gamma-Gamma maximum-likelihood fits converged (or BG/NBD "
        "reached its no-dropout or common-dropout limit); a fit that did not stops the syncs "
        "that use predicted LTV or churn.",
        query="""
            select model, fit_status, any_value(log_likelihood) as log_likelihood,
                   any_value(customers) as customers,
                   string_agg(parameter || ' = ' || cast(value as varchar), ', '
                              order by parameter) as parameters
            from analytics.ltv_model_params
            where model_status = 'fitted' and model in ('bgnbd', 'gamma_gamma')
            group by model, fit_status
            order by model
        """,
        expectations=lambda frame: [
            not_null("fit_status", "every fit says how it ended"),
            in_set("fit_status", SOUND_FITS, "every fit converged (or reached a named limit)"),
        ],
    )


def ltv_predictions_suite(t: Thresholds) -> Suite:
    """Every prediction of a fitted LTV model is a finite number, probabilities in [0, 1] and
    amounts >= 0 (blocking: they go to HubSpot and decide audiences). Customers of a
    not-estimable model have none and are not checked."""
    finite = " ".join(
        f"case when not coalesce(isfinite({c}), false) then '{c}' end," for c in PREDICTIONS
    )
    return Suite(
        name="ltv_predictions_finite",
        asset=("analytics", "customer_ltv"),
        severity="blocking",
        description="Every customer's predictions (P(alive), P(no purchase in 90 d), expected "
        "purchases, order value, 12-month LTV) are finite, probabilities lie in [0, 1] and "
        "amounts are >= 0; otherwise the syncs that use predicted LTV or churn stop.",
        query=f"""
            select user_id, purchase_method, spend_method, {", ".join(PREDICTIONS)},
                   nullif(concat_ws(', ', {finite.rstrip(",")}), '') as not_finite
            from analytics.customer_ltv
            where model_status = 'fitted'
        """,
        pushdown=True,
        order_by="user_id",
        expectations=lambda frame: [
            is_null("not_finite", "every prediction is a finite number"),
            between("p_alive", "P(alive) lies in [0, 1]", 0, 1),
            between("p_no_purchase_90d", "P(no purchase in 90 days) lies in [0, 1]", 0, 1),
            between("expected_purchases_90d", "expected purchases are >= 0", 0),
            between("predicted_ltv_12m", "predicted LTV is >= 0", 0),
            not_null("purchase_method", "every row names its purchase model"),
            not_null("spend_method", "every row names its spend model"),
        ],
    )


def churn_scores_suite(t: Thresholds) -> Suite:
    """Every churn score is a probability (blocking: it goes to HubSpot). Customers of a
    not-estimable LTV model, or of a fit that did not converge, have no score (churn_risk.
    model_status) and are not checked here (ltv_fit_converged fails for the latter)."""
    return Suite(
        name="churn_scores_in_range",
        asset=("analytics", "churn_risk"),
        severity="blocking",
        description="Every analytics.churn_risk.churn_score is set and lies in [0, 1] (customers "
        "of a not-estimable LTV model have none).",
        query="""
            select user_id, churn_score, churn_band from analytics.churn_risk
            where model_status = 'fitted'
        """,
        pushdown=True,
        order_by="user_id",
        expectations=lambda frame: [
            not_null("churn_score", "every customer has a churn score"),
            between("churn_score", "churn scores lie in [0, 1]", 0, 1),
        ],
    )


def core_suites(t: Thresholds) -> list[Suite]:
    return [people_have_events_suite(t), order_revenue_suite(t)]


def analytics_suites(t: Thresholds) -> list[Suite]:
    return [
        rfm_segments_suite(t),
        ltv_parameters_suite(t),
        ltv_fit_suite(t),
        ltv_predictions_suite(t),
        churn_scores_suite(t),
    ]
