{#- Amplitude's Lifecycle chart per interval (lifecycle_unit: day, week or month):
    new (first seen in the interval), current (active in it and the previous one), resurrected
    (active, inactive in the previous one, not new) and dormant (active in the previous one, not
    in this one). Active = new + current + resurrected. "New" is the person's first event ever,
    never the first inside a window. -#}

{%- set unit = var('lifecycle_unit') -%}

with

observation as (
    select {{ observation_end_sql(ref('fct_events')) }} as observation_end
),

activity as (
    -- events up to the observation end (as_of) only; the last interval may be partial
    select distinct user_id, cast({{ dbt.date_trunc(unit, 'event_at') }} as date) as interval_start
    from {{ ref('fct_events') }}
    where {{ is_observed('event_at') }}
),

sequenced as (
    select
        user_id,
        interval_start,
        min(interval_start) over (partition by user_id) as first_interval,
        lag(interval_start) over (partition by user_id order by interval_start) as previous_active,
        lead(interval_start) over (partition by user_id order by interval_start) as next_active
    from activity
),

last_interval as (
    select max(interval_start) as interval_start from activity
),

staged as (
    select
        interval_start,
        case
            when interval_start = first_interval then 'new'
            when previous_active = cast({{ dbt.dateadd(unit, -1, 'interval_start') }} as date)
                then 'current'
            else 'resurrected'
        end as stage
    from sequenced

    union all

    -- the interval after an active one, when the person is not active in it
    select cast({{ dbt.dateadd(unit, 1, 'interval_start') }} as date), 'dormant'
    from sequenced
    where (next_active is null
           or next_active <> cast({{ dbt.dateadd(unit, 1, 'interval_start') }} as date))
      and cast({{ dbt.dateadd(unit, 1, 'interval_start') }} as date)
          <= (select interval_start from last_interval)
),

final as (
    select
        interval_start,
        '{{ unit }}' as interval_unit,
        count(case when stage = 'new' then 1 end) as new_users,
        count(case when stage = 'current' then 1 end) as current_users,
        count(case when stage = 'resurrected' then 1 end) as resurrected_users,
        count(case when stage = 'dormant' then 1 end) as dormant_users,
        count(case when stage <> 'dormant' then 1 end) as active_users
    from staged
    group by interval_start
)

select
    *,
    case when dormant_users > 0
         then 1.0 * (new_users + resurrected_users) / dormant_users end as pulse
from final
