{#- Each person's stage as of the observation end (thresholds are vars):
    new (first seen within lifecycle_new_days), reactivated (active within lifecycle_active_days
    after a gap longer than lifecycle_churn_days), active (last seen within lifecycle_active_days),
    at_risk (last seen between lifecycle_active_days and lifecycle_churn_days ago) and churned (no
    activity for more than lifecycle_churn_days). -#}

with

days as (
    select distinct user_id, event_date from {{ ref('fct_events') }}
),

observation as (
    select {{ observation_date_sql(ref('fct_events')) }} as observation_date
),

gaps as (
    select
        user_id,
        event_date,
        {{ dbt.datediff(
            'lag(event_date) over (partition by user_id order by event_date)', 'event_date', 'day'
        ) }} as days_since_previous
    from days
    where event_date <= (select observation_date from observation)
),

people as (
    select
        user_id,
        min(event_date) as first_active_date,
        max(event_date) as last_active_date,
        count(*) as active_days,
        max(case when days_since_previous > {{ var('lifecycle_churn_days') }}
                 then event_date end) as last_reactivated_date
    from gaps
    group by user_id
),

measured as (
    select
        people.*,
        {{ dbt.datediff('first_active_date', '(select observation_date from observation)', 'day') }}
            as days_since_first,
        {{ dbt.datediff('last_active_date', '(select observation_date from observation)', 'day') }}
            as days_since_last
    from people
),

final as (
    select
        user_id,
        first_active_date,
        last_active_date,
        active_days,
        days_since_first,
        days_since_last,
        last_reactivated_date,
        case
            when days_since_first < {{ var('lifecycle_new_days') }} then 'new'
            when days_since_last < {{ var('lifecycle_active_days') }}
                 and last_reactivated_date is not null
                 and {{ dbt.datediff('last_reactivated_date', '(select observation_date from observation)', 'day') }}
                     < {{ var('lifecycle_active_days') }} then 'reactivated'
            when days_since_last < {{ var('lifecycle_active_days') }} then 'active'
            when days_since_last <= {{ var('lifecycle_churn_days') }} then 'at_risk'
            else 'churned'
        end as lifecycle_stage
    from measured
)

select * from final
