{#- A churn score per customer, in [0, 1], and a band. BG/NBD's P(alive) alone cannot rank
    churn: it is 1 for every one-time buyer, who are most of the churners (analytics.md §8). The
    score averages two views of the same question:
    - the model's: the chance of no purchase in the next 90 days, exp(-E[purchases in 90 days])
      (E from customer_ltv, which already weighs recency and frequency), and
    - recency's: the share of customers who bought more recently (cume_dist of days since the
      last purchase), nearly as good a predictor on its own (AUC 0.771 on CDNOW).
    Bands: high >= 0.7, medium >= 0.4, low below.
    When the LTV model is not estimable yet (customer_ltv.model_status 'not_estimable', e.g. no
    repeat buyer), the score and band are null and the status and reason are carried over; the
    recency rank is still given. -#}

with

ltv as (
    select * from {{ ref('customer_ltv') }}
),

summary as (
    select user_id, last_purchase_date, calibration_end from {{ ref('customer_purchase_summary') }}
),

measured as (
    select
        ltv.user_id,
        {{ dbt.datediff('summary.last_purchase_date', 'summary.calibration_end', 'day') }}
            as days_since_last_purchase,
        ltv.expected_purchases_90d,
        ltv.p_alive,
        exp(-ltv.expected_purchases_90d) as p_no_purchase_90d,
        ltv.model_status,
        ltv.model_status_reason
    from ltv
    inner join summary on summary.user_id = ltv.user_id
),

scored as (
    select
        *,
        cume_dist() over (order by days_since_last_purchase) as recency_rank,
        0.5 * p_no_purchase_90d
            + 0.5 * cume_dist() over (order by days_since_last_purchase) as churn_score
    from measured
),

final as (
    select
        user_id,
        days_since_last_purchase,
        expected_purchases_90d,
        p_alive,
        p_no_purchase_90d,
        recency_rank,
        churn_score,
        case
            when churn_score >= 0.7 then 'high'
            when churn_score >= 0.4 then 'medium'
            when churn_score is not null then 'low'
        end as churn_band,
        model_status,
        model_status_reason
    from scored
)

select * from final
