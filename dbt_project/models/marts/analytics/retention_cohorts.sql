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

ends as (
    -- people per cohort and last eligible period
    select cohort_date, last_period, count(*) as people from eligible group by 1, 2
),

reaches as (
    -- people per cohort and the last period they count in as retained "on or after": the
    -- lesser of their last eligible period and their last return
    select eligible.cohort_date,
           case when last_returns.last_period < eligible.last_period
                then last_returns.last_period else eligible.last_period end as reach,
           count(*) as people
    from eligible
    inner join last_returns on last_returns.user_id = eligible.user_id
    group by 1, 2
),

returned as (
    select eligible.cohort_date, returns.period, count(*) as retained_on
    from returns
    inner join eligible on eligible.user_id = returns.user_id
    where returns.period <= eligible.last_period
    group by 1, 2
),

eligible_counts as ({{ sum_through('ends', 'per_end.people') }}),

on_or_after as ({{ sum_through('reaches', 'per_end.people', through='reach') }}),

counted as (
    select
        grid.cohort_date,
        grid.period,
        cast(eligible_counts.total as {{ dbt.type_bigint() }}) as eligible_users,
        cast(coalesce(returned.retained_on, 0) as {{ dbt.type_bigint() }}) as retained_on,
        cast(coalesce(on_or_after.total, 0) as {{ dbt.type_bigint() }}) as retained_on_or_after
    from grid
    {{ join_cell('eligible_counts') }}
    {{ join_cell('returned', kind='left') }}
    {{ join_cell('on_or_after', kind='left') }}
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
