{#- A churn score per customer, in [0, 1], and a band (docs/metrics.md, "Churn risk").

    churn_score is the fitted BG/NBD model's own probability that the customer makes no purchase
    in the next 90 days, P(Y(90 d) = 0 | x, t_x, T) = P(dead) + P(alive) * ((alpha + T) /
    (alpha + T + 90 d))^(r + x), computed in customer_ltv (clv.BGNBD.p_no_purchase). It is a
    probability, so a score of 0.85 reads "85 % chance of no purchase in the next 90 days". It
    replaces exp(-E[purchases in 90 d]), which is not that probability for a mixture of rates
    and dropouts (always smaller). BG/NBD's P(alive) alone cannot rank churn (it is 1 for every
    one-time buyer, analytics.md §8); the no-purchase probability can: a one-time buyer's is
    ((alpha + T) / (alpha + T + 90 d))^r, which grows with the time since their purchase.
    Bands are statements about that probability:
    - high:   >= 0.8, under a 1-in-5 chance of buying in the next 90 days;
    - medium: >= 0.5, more likely not to buy than to buy;
    - low:    below 0.5, more likely to buy than not.
    recency_rank (cume_dist of days since the last purchase) is given for comparison only.
    When the LTV model is not estimable yet (customer_ltv.model_status 'not_estimable', e.g. no
    repeat buyer), the probability, score and band are null and the status and reason are
    carried over; the recency rank is still given. -#}

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
        ltv.p_no_purchase_90d,
        ltv.model_status,
        ltv.model_status_reason
    from ltv
    inner join summary on summary.user_id = ltv.user_id
),

scored as (
    select
        *,
        cume_dist() over (order by days_since_last_purchase) as recency_rank,
        p_no_purchase_90d as churn_score
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
            when churn_score >= 0.8 then 'high'
            when churn_score >= 0.5 then 'medium'
            when churn_score is not null then 'low'
        end as churn_band,
        model_status,
        model_status_reason
    from scored
)

select * from final
