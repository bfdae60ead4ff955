{#- The event names this build was configured with (the "Event names" vars of dbt_project.yml,
    --vars overrides included, and the seed event_weights), one row per setting, with how many
    events and people in fct_events carry exactly that name up to the observation end. A name with no events is almost
    always a naming mismatch; checks/event_names.py turns those into warnings with the closest
    names seen (Dagster check, `recur run`, the report). -#}

with

configured as (
    {%- for setting, name in configured_event_names() %}
    select
        {{ loop.index }} as position,
        cast({{ sql_string(setting) }} as {{ dbt.type_string() }}) as setting,
        cast({{ sql_string(name) }} as {{ dbt.type_string() }}) as event_name
    union all
    {%- endfor %}
    select
        1000000 + row_number() over (order by event_name) as position,
        cast('event_weights (seed)' as {{ dbt.type_string() }}) as setting,
        cast(event_name as {{ dbt.type_string() }}) as event_name
    from {{ ref('event_weights') }}
),

observation as (
    select {{ observation_end_sql(ref('fct_events')) }} as observation_end
),

counts as (
    select event_name, count(*) as events, count(distinct user_id) as users
    from {{ ref('fct_events') }}
    where event_name in (select event_name from configured)
      and {{ is_observed('event_at') }}
    group by event_name
),

final as (
    select
        configured.position,
        configured.setting,
        configured.event_name,
        coalesce(counts.events, 0) as events,
        coalesce(counts.users, 0) as users
    from configured
    left join counts on counts.event_name = configured.event_name
)

select * from final
