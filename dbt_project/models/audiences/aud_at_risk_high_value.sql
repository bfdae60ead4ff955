{#- Who: customers worth keeping who are slipping, with an email.
    Worth keeping: an LTV tier in `audience_high_value_ltv_tiers` (default high: the top 20% by
    predicted 12-month LTV), or in the top `audience_high_value_historical_share` (20%) of all
    customers by historical net revenue (over every customer, emailed or not) - so a big spender
    the model expects little more from still counts. Ties at the cut are all out: a customer is
    in when the customers with at least their historical revenue are at most that share, so the
    arm never holds more than the share and equal spenders are never split (docs/metrics.md).
    Slipping: an RFM segment in `audience_slipping_rfm_segments` (At Risk, Can't Lose Them, About
    To Sleep) or a churn band in `audience_slipping_churn_bands` (high, medium). -#}

with

contacts as (
    select * from {{ ref('aud_contact_traits') }}
),

customers as (
    select user_id, historical_ltv from {{ ref('customer_ltv') }}
),

historical_ranks as (
    select
        user_id,
        -- customers with at least this historical revenue (the whole tie block counted)
        count(*) over () - rank() over (order by historical_ltv) + 1 as customers_at_or_above,
        count(*) over () as customer_count
    from customers
),

flagged as (
    select
        contacts.*,
        coalesce(
            historical_ranks.customers_at_or_above
                <= {{ var('audience_high_value_historical_share') }} * historical_ranks.customer_count,
            false
        ) as is_top_historical_value
    from contacts
    left join historical_ranks on historical_ranks.user_id = contacts.user_id
),

final as (
    select
        user_id,
        email,
        first_name,
        last_name,
        ltv_tier,
        predicted_ltv_12m,
        historical_ltv,
        is_top_historical_value,
        rfm_segment,
        churn_band,
        churn_score,
        lifecycle_stage,
        last_seen_date
    from flagged
    where (ltv_tier in ({{ sql_in_list(var('audience_high_value_ltv_tiers')) }})
           or is_top_historical_value)
      and (rfm_segment in ({{ sql_in_list(var('audience_slipping_rfm_segments')) }})
           or churn_band in ({{ sql_in_list(var('audience_slipping_churn_bands')) }}))
)

select * from final
