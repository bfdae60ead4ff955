{#- N-period ("on") and unbounded ("on or after") retention per cohort, as Amplitude and Mixpanel
    define them (analytics.md §3):
    - each person's periods are rolling windows of retention_unit from their own start event
      (day k = hours [24k, 24k+24));
    - "on": a return event in period k exactly; "on or after": in period k or any later one;
    - right-censored: a person counts in cell k only once their period k has fully elapsed before
      the observation end, in the numerator and the denominator (eligible_users).
    Cohorts are the calendar period (day, week or month, UTC) of the start event. -#}

{%- set unit = var('retention_unit') -%}
{%- set return_event = var('retention_return_event') -%}

with

{{ cohort_ctes() }}

events as (
    select user_id, event_at, event_name from {{ ref('fct_events') }}
),

returns as (
    select distinct
        cohorts.user_id,
        cast({{ period_index('cohorts.started_at', 'events.event_at') }} as {{ dbt.type_int() }})
            as period
    from cohorts
    inner join events on events.user_id = cohorts.user_id
    where events.event_at >= cohorts.started_at
      and {{ is_observed('events.event_at') }}
      {% if return_event %}and events.event_name = {{ sql_string(return_event) }}{% endif %}
),

last_returns as (
    select user_id, max(period) as last_period from returns group by user_id
),

cohort_sizes as (
    select cohort_date, count(*) as cohort_users from cohorts group by cohort_date
),

counted as (
    select
        cells.cohort_date,
        cells.period,
        count(*) as eligible_users,
        count(returns.user_id) as retained_on,
        count(case when last_returns.last_period >= cells.period then 1 end)
            as retained_on_or_after
    from cells
    left join returns
        on returns.user_id = cells.user_id and returns.period = cells.period
    left join last_returns on last_returns.user_id = cells.user_id
    group by cells.cohort_date, cells.period
),

final as (
    select
        counted.cohort_date,
        '{{ unit }}' as period_unit,
        counted.period,
        cohort_sizes.cohort_users,
        counted.eligible_users,
        counted.retained_on,
        counted.retained_on_or_after,
        1.0 * counted.retained_on / counted.eligible_users as retention_on,
        1.0 * counted.retained_on_or_after / counted.eligible_users as retention_on_or_after,
        counted.eligible_users = cohort_sizes.cohort_users as is_complete
    from counted
    inner join cohort_sizes on cohort_sizes.cohort_date = counted.cohort_date
)

select * from final
