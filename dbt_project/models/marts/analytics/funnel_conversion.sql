{#- Conversion through each funnel declared in the var `funnels` (dbt_project.yml), counted for
    unique people as Mixpanel does by default (analytics.md §4): a person's first step-1 event
    starts their attempt; each next step is the first event of that step at or after the previous
    step's time and before step 1 + window_days. Per step: people who reached it, conversion
    from the previous and from the first step, and the median time to convert from the previous
    step and from step 1 (seconds). A step nobody reached (a step name that matches no event, or a
    funnel nobody entered) is a result: 0 people, conversion 0, null times. -#}

with

observation as (
    select {{ observation_end_sql(ref('fct_events')) }} as observation_end
),

events as (
    -- only what was observed: no step after the observation end (as_of) counts
    select user_id, event_name, event_at from {{ ref('fct_events') }}
    where {{ is_observed('event_at') }}
),

{% for funnel in var('funnels') %}
{%- set f = loop.index -%}
{%- for step in funnel.steps %}
{%- set s = loop.index %}
funnel_{{ f }}_step_{{ s }} as (
    {%- if s == 1 %}
    select user_id, min(event_at) as reached_at, min(event_at) as started_at
    from events
    where event_name = '{{ dbt.escape_single_quotes(step) }}'
    group by user_id
    {%- else %}
    select
        previous.user_id,
        min(events.event_at) as reached_at,
        min(previous.started_at) as started_at
    from funnel_{{ f }}_step_{{ s - 1 }} as previous
    inner join events
        on events.user_id = previous.user_id
        and events.event_name = '{{ dbt.escape_single_quotes(step) }}'
        and events.event_at >= previous.reached_at
        and events.event_at < {{ dbt.dateadd('day', funnel.window_days, 'previous.started_at') }}
    group by previous.user_id
    {%- endif %}
),

funnel_{{ f }}_step_{{ s }}_summary as (
    select
        '{{ dbt.escape_single_quotes(funnel.name) }}' as funnel_name,
        {{ s }} as step_number,
        '{{ dbt.escape_single_quotes(step) }}' as step_name,
        {{ funnel.window_days }} as window_days,
        count(*) as users,
        {%- if s == 1 %}
        cast(null as double) as median_seconds_from_previous,
        cast(null as double) as median_seconds_from_start
        {%- else %}
        {{ median(dbt.datediff('previous.reached_at', 'current_step.reached_at', 'second')) }}
            as median_seconds_from_previous,
        {{ median(dbt.datediff('current_step.started_at', 'current_step.reached_at', 'second')) }}
            as median_seconds_from_start
        {%- endif %}
    from funnel_{{ f }}_step_{{ s }} as current_step
    {%- if s > 1 %}
    inner join funnel_{{ f }}_step_{{ s - 1 }} as previous
        on previous.user_id = current_step.user_id
    {%- endif %}
),
{% endfor %}
{% endfor %}

steps as (
    {% for funnel in var('funnels') -%}
    {%- set f = loop.index -%}
    {%- for step in funnel.steps -%}
    select * from funnel_{{ f }}_step_{{ loop.index }}_summary
    {% if not loop.last %}union all
    {% endif -%}
    {%- endfor %}
    {% if not loop.last %}union all
    {% endif -%}
    {%- endfor %}
),

final as (
    select
        funnel_name,
        step_number,
        step_name,
        window_days,
        users,
        -- a step nobody reached converts 0 (also when the step before it was empty too)
        case when step_number > 1 then coalesce(
            1.0 * users / nullif(lag(users) over (partition by funnel_name order by step_number), 0),
            0
        ) end as conversion_from_previous,
        coalesce(1.0 * users / nullif(first_value(users) over (
            partition by funnel_name order by step_number
            rows between unbounded preceding and current row), 0), 0) as conversion_from_start,
        median_seconds_from_previous,
        median_seconds_from_start
    from steps
)

select * from final
