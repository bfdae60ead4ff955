{#- The CTEs retention_cohorts and revenue_cohorts share, each followed by a comma:
    observation (its end), cohorts (each person's start and cohort, for people who started
    before the end), periods (0..retention_periods) and cells (the (person, period) pairs whose
    period has fully elapsed: right-censoring). -#}
{% macro cohort_ctes() -%}
{%- set start_event = var('retention_start_event') -%}
observation as (
    select {{ observation_end_sql(ref('fct_events')) }} as observation_end
),

starts as (
    select user_id, min(event_at) as started_at
    from {{ ref('fct_events') }}
    {% if start_event %}where event_name = {{ sql_string(start_event) }}{% endif %}
    group by user_id
),

cohorts as (
    select
        user_id,
        started_at,
        cast({{ dbt.date_trunc(var('retention_unit'), 'started_at') }} as date) as cohort_date
    from starts
    where started_at < (select observation_end from observation)
),

periods as (
    select cast(generated_number - 1 as {{ dbt.type_int() }}) as period
    from ({{ dbt.generate_series(var('retention_periods') + 1) }}) as series
),

cells as (
    select cohorts.user_id, cohorts.cohort_date, periods.period
    from cohorts
    cross join periods
    where {{ dbt.dateadd('second', '(periods.period + 1) * ' ~ period_days() ~ ' * 86400',
                         'cohorts.started_at') }}
          <= (select observation_end from observation)
),
{%- endmacro %}
