{#- Who: the best customers, RFM segment Champions (R = 5 and F = 4-5 in user_rfm: bought most
    recently and most often), with an email. For loyalty programmes, reviews and referrals. -#}

with

contacts as (
    select * from {{ ref('aud_contact_traits') }}
),

final as (
    select
        user_id,
        email,
        first_name,
        last_name,
        rfm_segment,
        ltv_tier,
        predicted_ltv_12m,
        historical_ltv,
        lifetime_orders,
        last_seen_date
    from contacts
    where rfm_segment = 'Champions'
)

select * from final
