{#- Who: new customers to onboard, with an email: their first purchase (refunds are not
    purchases) was less than `audience_new_customer_days` (14) days before the observation date
    (as_of, else the day of the last event), in UTC calendar days: 0 to 13 days ago by default.
    Purchases after the observation date are not yet made. -#}

with

contacts as (
    select * from {{ ref('aud_contact_traits') }}
),

users as (
    select user_id, first_order_at from {{ ref('dim_users') }}
),

observation as (
    select {{ observation_date_sql(ref('fct_events')) }} as observation_date
),

first_orders as (
    select
        user_id,
        first_order_at,
        cast(first_order_at as date) as first_order_date
    from users
    where first_order_at is not null
),

measured as (
    select
        first_orders.*,
        -- bigint on both engines (Spark's datediff is an int; the contract says bigint)
        cast(
            {{ dbt.datediff('first_order_date', '(select observation_date from observation)', 'day') }}
            as {{ dbt.type_bigint() }}
        ) as days_since_first_order
    from first_orders
    where first_order_date <= (select observation_date from observation)
),

final as (
    select
        contacts.user_id,
        contacts.email,
        contacts.first_name,
        contacts.last_name,
        measured.first_order_at,
        measured.first_order_date,
        measured.days_since_first_order,
        contacts.lifetime_orders,
        contacts.historical_ltv,
        contacts.ltv_tier
    from contacts
    inner join measured on measured.user_id = contacts.user_id
    where measured.days_since_first_order < {{ var('audience_new_customer_days') }}
)

select * from final
