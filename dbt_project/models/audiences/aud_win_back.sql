{#- Who: dormant people to win back, with an email: lifecycle stage (user_lifecycle, as of the
    observation date) in `audience_win_back_stages` - at_risk (last active 30-90 days ago) or
    churned (more than 90 days ago) by default. Customers and non-customers alike. -#}

with

contacts as (
    select * from {{ ref('aud_contact_traits') }}
),

observation as (
    select {{ observation_date_sql(ref('fct_events')) }} as observation_date
),

final as (
    select
        user_id,
        email,
        first_name,
        last_name,
        lifecycle_stage,
        last_seen_date,
        -- bigint on both engines (Spark's datediff is an int; the contract says bigint)
        cast(
            {{ dbt.datediff('last_seen_date', '(select observation_date from observation)', 'day') }}
            as {{ dbt.type_bigint() }}
        ) as days_since_last_seen,
        lifetime_orders,
        historical_ltv,
        ltv_tier,
        rfm_segment
    from contacts
    where lifecycle_stage in ({{ sql_in_list(var('audience_win_back_stages')) }})
)

select * from final
