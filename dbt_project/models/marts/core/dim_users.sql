{#- One row per person: first touch, geo, contact details from profiles, and lifetime activity.
    Incremental: a run recomputes the people whose events, sessions or profile changed since its
    last run (over their whole history), and the people who lost events (to another person, or to
    a re-loaded export day: their stored lifetime_events no longer match), and removes people who
    no longer have events. -#}
{{
    config(
        materialized=keyed_incremental(),
        unique_key='user_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ delete_people_without_events() }}",
    )
}}

with

{% if is_incremental() %}

touched as (
    select user_id from {{ ref('fct_events') }}
    where updated_at > (select max(updated_at) from {{ this }})
    union all
    select user_id from {{ ref('fct_sessions') }}
    where updated_at > (select max(updated_at) from {{ this }})
    union all
    select user_id from {{ ref('stg_mixpanel__profiles') }}
    where loaded_at > (select max(updated_at) from {{ this }})
    union all
    -- people who lost events and gained none: every other change to a person's events rewrites
    -- one of them (the first branch)
    select stored.user_id
    from {{ this }} as stored
    left join (
        select user_id, count(*) as events from {{ ref('fct_events') }} group by user_id
    ) as current_events on current_events.user_id = stored.user_id
    where coalesce(current_events.events, 0) <> stored.lifetime_events
),

events as (
    select * from {{ ref('fct_events') }} where user_id in (select user_id from touched)
),

{% else %}

events as (
    select * from {{ ref('fct_events') }}
),

{% endif %}

sessions as (
    select user_id, count(*) as lifetime_sessions from {{ ref('fct_sessions') }}
    where user_id in (select user_id from events)
    group by user_id
),

orders as (
    select
        user_id,
        count(case when not is_refund then 1 end) as lifetime_orders,
        sum(revenue) as lifetime_revenue,
        min(case when not is_refund then ordered_at end) as first_order_at,
        max(case when not is_refund then ordered_at end) as last_order_at
    from {{ ref('fct_orders') }}
    where user_id in (select user_id from events)
    group by user_id
),

profiles as (
    select * from {{ ref('stg_mixpanel__profiles') }}
),

activity as (
    select
        user_id,
        min(event_at) as first_seen_at,
        max(event_at) as last_seen_at,
        count(*) as lifetime_events,
        count(distinct device_id) as devices,
        {{ dbt.bool_or("identity_source = 'anonymous'") }} as is_anonymous
    from events
    group by user_id
),

first_touch as (
    select
        user_id,
        source as first_source,
        platform as first_platform,
        utm_source as first_utm_source,
        utm_medium as first_utm_medium,
        utm_campaign as first_utm_campaign,
        referrer as first_referrer,
        row_number() over (partition by user_id order by event_at, event_id) as touch_number
    from events
),

last_geo as (
    select
        user_id,
        country_code,
        country_name,
        city,
        row_number() over (partition by user_id order by event_at desc, event_id desc) as recency
    from events
    where country_code is not null or city is not null
),

final as (
    select
        activity.user_id,
        not activity.is_anonymous as is_identified,
        profiles.email,
        profiles.first_name,
        profiles.last_name,
        activity.first_seen_at,
        cast(activity.first_seen_at as date) as first_seen_date,
        activity.last_seen_at,
        first_touch.first_source,
        first_touch.first_platform,
        first_touch.first_utm_source,
        first_touch.first_utm_medium,
        first_touch.first_utm_campaign,
        first_touch.first_referrer,
        coalesce(profiles.country_code, last_geo.country_code) as country_code,
        last_geo.country_name,
        coalesce(profiles.city, last_geo.city) as city,
        activity.devices,
        activity.lifetime_events,
        coalesce(sessions.lifetime_sessions, 0) as lifetime_sessions,
        coalesce(orders.lifetime_orders, 0) as lifetime_orders,
        coalesce(orders.lifetime_revenue, 0) as lifetime_revenue,
        orders.first_order_at,
        orders.last_order_at,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
            as updated_at
    from activity
    left join first_touch on activity.user_id = first_touch.user_id and first_touch.touch_number = 1
    left join last_geo on activity.user_id = last_geo.user_id and last_geo.recency = 1
    left join sessions on activity.user_id = sessions.user_id
    left join orders on activity.user_id = orders.user_id
    left join profiles on activity.user_id = profiles.user_id
)

select * from final
