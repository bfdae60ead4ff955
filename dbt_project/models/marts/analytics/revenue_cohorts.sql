{#- Revenue per cohort and period, the historical LTV curve and net revenue retention.

    Cohorts and periods as in retention_cohorts (the start event's calendar period; rolling
    periods from each person's own start). Per cell, over the people whose period has fully
    elapsed (eligible_users): revenue in the period (refunds net), revenue per eligible person,
    cumulative revenue per person up to and including the period (L_c(K) = sum of revenue in
    periods 0..K / people observed through K: the historical LTV curve), and:
    - net_revenue_retention (NRR): over the eligible people who paid in period 0 (net period-0
      revenue > 0, the base period's customers), their revenue in period k / their revenue in
      period 0. People whose first payment comes later are not in it, in the numerator or the
      denominator: NRR measures what the base period's customers kept, expansion included.
    - revenue_per_period_0_revenue: the cohort's whole revenue in period k (everyone eligible,
      including later first purchases) / the period-0 revenue of those people. An index of the
      cohort's revenue, not a retention rate (it was called net_revenue_retention before). -#}

{%- set unit = var('retention_unit') -%}

with

{{ cohort_ctes() }}

orders as (
    select user_id, ordered_at, revenue from {{ ref('fct_orders') }}
),

revenue_by_period as (
    select
        cohorts.user_id,
        cast({{ period_index('cohorts.started_at', 'orders.ordered_at') }} as {{ dbt.type_int() }})
            as period,
        sum(orders.revenue) as revenue
    from cohorts
    inner join orders on orders.user_id = cohorts.user_id
    where orders.ordered_at >= cohorts.started_at
      and {{ is_observed('orders.ordered_at') }}
    group by 1, 2
),

in_reach as (
    -- each eligible person's revenue per period, up to their last eligible period
    select eligible.cohort_date, eligible.user_id, eligible.last_period,
           revenue_by_period.period, revenue_by_period.revenue
    from eligible
    inner join revenue_by_period on revenue_by_period.user_id = eligible.user_id
    where revenue_by_period.period <= eligible.last_period
),

people as (
    -- each eligible person's period-0 revenue (0 without one)
    select eligible.user_id, eligible.cohort_date, eligible.last_period,
           coalesce(first_period.revenue, 0) as period_0_revenue
    from eligible
    left join in_reach as first_period
        on first_period.user_id = eligible.user_id and first_period.period = 0
),

ends as (
    -- per cohort and last eligible period: people, period-0 payers, their period-0 revenue
    select
        cohort_date,
        last_period,
        count(*) as people,
        count(case when period_0_revenue > 0 then 1 end) as period_0_payers,
        sum(period_0_revenue) as period_0_revenue,
        sum(case when period_0_revenue > 0 then period_0_revenue end) as payers_period_0_revenue
    from people
    group by 1, 2
),

in_period as (
    -- per cohort and period: the revenue of the people eligible in it, and of the period-0 payers
    select
        in_reach.cohort_date,
        in_reach.period,
        count(case when in_reach.revenue <> 0 then 1 end) as paying_users,
        sum(in_reach.revenue) as revenue,
        sum(case when people.period_0_revenue > 0 then in_reach.revenue end) as payers_revenue
    from in_reach
    inner join people on people.user_id = in_reach.user_id
    group by 1, 2
),

revenue_changes as (
    -- a person's revenue in period j counts in the cumulative revenue of periods j..last_period:
    -- it starts at j and stops after last_period
    select cohort_date, period, sum(revenue) as change
    from (
        select cohort_date, period, revenue from in_reach
        union all
        select cohort_date, last_period + 1, -revenue from in_reach
    ) as changes
    group by 1, 2
),

eligible_counts as ({{ sum_through('ends', 'per_end.people') }}),

payer_counts as ({{ sum_through('ends', 'per_end.period_0_payers') }}),

base_revenue as ({{ sum_through('ends', 'per_end.period_0_revenue') }}),

payers_base_revenue as ({{ sum_through('ends', 'per_end.payers_period_0_revenue') }}),

cumulative as (
    select
        grid.cohort_date,
        grid.period,
        sum(coalesce(revenue_changes.change, 0)) over (
            partition by grid.cohort_date order by grid.period nulls first
            rows between unbounded preceding and current row
        ) as cumulative_revenue
    from grid
    {{ join_cell('revenue_changes', kind='left') }}
),

counted as (
    select
        grid.cohort_date,
        grid.period,
        cast(eligible_counts.total as {{ dbt.type_bigint() }}) as eligible_users,
        cast(coalesce(in_period.paying_users, 0) as {{ dbt.type_bigint() }}) as paying_users,
        coalesce(in_period.revenue, 0) as revenue,
        cumulative.cumulative_revenue,
        cast(payer_counts.total as {{ dbt.type_bigint() }}) as period_0_payers,
        coalesce(in_period.payers_revenue, 0) as payers_revenue,
        payers_base_revenue.total as payers_period_0_revenue,
        base_revenue.total as period_0_revenue
    from grid
    {{ join_cell('eligible_counts') }}
    {{ join_cell('payer_counts') }}
    {{ join_cell('base_revenue') }}
    {{ join_cell('payers_base_revenue') }}
    {{ join_cell('cumulative') }}
    {{ join_cell('in_period', kind='left') }}
),

final as (
    select
        cohort_date,
        '{{ unit }}' as period_unit,
        period,
        eligible_users,
        paying_users,
        revenue,
        revenue / eligible_users as revenue_per_user,
        cumulative_revenue / eligible_users as cumulative_revenue_per_user,
        period_0_payers,
        case when payers_period_0_revenue > 0
             then payers_revenue / payers_period_0_revenue end as net_revenue_retention,
        case when period_0_revenue <> 0
             then revenue / period_0_revenue end as revenue_per_period_0_revenue
    from counted
)

select * from final
