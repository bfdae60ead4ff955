{#- A weighted event score per person: the sum of each event's weight (seed event_weights),
    halved every engagement_half_life_days of age at the observation end when a half-life is set.
    Bands split people into thirds by score, equal scores sharing a band: the third holding the
    middle of the person's tie block (macro tied_quantile, docs/metrics.md). -#}

{%- set half_life = var('engagement_half_life_days') -%}

with

events as (
    select user_id, event_name, event_at from {{ ref('fct_events') }}
),

weights as (
    select * from {{ ref('event_weights') }}
),

observation as (
    select {{ observation_end_sql(ref('fct_events')) }} as observation_end
),

weighted as (
    select
        events.user_id,
        events.event_at,
        coalesce(weights.weight, 0)
        {%- if half_life %}
            * power(0.5, {{ dbt.datediff('events.event_at', '(select observation_end from observation)', 'second') }}
                         / ({{ half_life }} * 86400.0))
        {%- endif %} as points
    from events
    left join weights on weights.event_name = events.event_name
    where {{ is_observed('events.event_at') }}
),

scored as (
    select
        user_id,
        count(*) as events,
        sum(points) as engagement_score,
        max(event_at) as last_event_at
    from weighted
    group by user_id
),

ranked as (
    select
        *,
        rank() over (order by engagement_score) - 1 as score_below,
        count(*) over (partition by engagement_score) as score_equal,
        count(*) over () as people
    from scored
),

final as (
    select
        user_id,
        events,
        engagement_score,
        last_event_at,
        percent_rank() over (order by engagement_score) as score_percentile,
        case {{ tied_quantile('score_below', 'score_equal', 'people', 3) }}
            when 3 then 'high' when 2 then 'medium' else 'low'
        end as engagement_band
    from ranked
)

select * from final
