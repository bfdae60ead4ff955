{#- The CTEs retention_cohorts and revenue_cohorts share, each followed by a comma:
    observation (its end), cohorts (each person's start and cohort, for people who started
    before the end), periods (0..retention_periods), eligible (each person's last period that has
    fully elapsed, last_period: the person counts in periods 0..last_period, right-censoring;
    people with none are left out) and grid (every cohort and period with an eligible person).

    A cohort's counts per period come from its people's last periods (a person eligible through
    period K counts in every period up to K), so nothing is built per person and period (up to
    retention_periods + 1 rows per person before). -#}
{% macro cohort_ctes() -%}
{%- set start_event = var('retention_start_event') -%}
{%- set seconds = period_days() * 86400 -%}
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

near_last as (
    -- the period holding the observation end, less one, counted in milliseconds: within one of
    -- the last period that has fully elapsed, which the next CTE settles to the microsecond
    select
        cohorts.*,
        cast({{ period_index('cohorts.started_at', 'observation.observation_end') }} as {{ dbt.type_int() }}) - 1
            as near
    from cohorts
    cross join observation
),

eligible as (
    -- period k has fully elapsed when started_at + (k + 1) periods <= the observation end
    select
        user_id,
        started_at,
        cohort_date,
        case when last_period > {{ var('retention_periods') }} then {{ var('retention_periods') }}
             else last_period end as last_period
    from (
        select
            near_last.*,
            case
                when {{ dbt.dateadd('second', '(near + 2) * ' ~ seconds, 'started_at') }}
                     <= (select observation_end from observation) then near + 1
                when {{ dbt.dateadd('second', '(near + 1) * ' ~ seconds, 'started_at') }}
                     <= (select observation_end from observation) then near
                else near - 1
            end as last_period
        from near_last
    ) as settled
    where last_period >= 0
),

grid as (
    select reach.cohort_date, periods.period
    from (select cohort_date, max(last_period) as last_period from eligible group by cohort_date) as reach
    inner join periods on periods.period <= reach.last_period
),
{%- endmacro %}

{#- Per cell of the grid, the sum of `value` over the rows of `relation` (grouped by cohort_date
    and a last period `through`) whose `through` reaches the cell's period: what every person
    eligible through a period adds to each period up to it. -#}
{% macro sum_through(relation, value, through='last_period') -%}
    select grid.cohort_date, grid.period, sum({{ value }}) as total
    from grid
    inner join {{ relation }} as per_end
        on per_end.cohort_date = grid.cohort_date and per_end.{{ through }} >= grid.period
    group by grid.cohort_date, grid.period
{%- endmacro %}

{#- A join of a relation holding one row per cell (cohort_date, period) to the grid. -#}
{% macro join_cell(relation, kind='inner') -%}
    {{ kind }} join {{ relation }}
        on {{ relation }}.cohort_date = grid.cohort_date and {{ relation }}.period = grid.period
{%- endmacro %}
