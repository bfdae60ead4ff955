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

per_person as (
    -- each eligible person's revenue in the period, up to it (a person's cells are periods
    -- 0..K without gaps), and in period 0
    select
        cells.cohort_date,
        cells.period,
        cells.user_id,
        coalesce(in_period.revenue, 0) as revenue,
        sum(coalesce(in_period.revenue, 0)) over (
            partition by cells.user_id order by cells.period nulls first
            rows between unbounded preceding and current row
        ) as cumulative_revenue,
        sum(case when cells.period = 0 then coalesce(in_period.revenue, 0) else 0 end) over (
            partition by cells.user_id
        ) as period_0_revenue
    from cells
    left join revenue_by_period as in_period
        on in_period.user_id = cells.user_id and in_period.period = cells.period
),

final as (
    select
        cohort_date,
        '{{ unit }}' as period_unit,
        period,
        count(*) as eligible_users,
        count(case when revenue <> 0 then 1 end) as paying_users,
        sum(revenue) as revenue,
        sum(revenue) / count(*) as revenue_per_user,
        sum(cumulative_revenue) / count(*) as cumulative_revenue_per_user,
        count(case when period_0_revenue > 0 then 1 end) as period_0_payers,
        case when sum(case when period_0_revenue > 0 then period_0_revenue end) > 0
             then sum(case when period_0_revenue > 0 then revenue end)
                  / sum(case when period_0_revenue > 0 then period_0_revenue end)
        end as net_revenue_retention,
        case when sum(period_0_revenue) <> 0
             then sum(revenue) / sum(period_0_revenue) end as revenue_per_period_0_revenue
    from per_person
    group by cohort_date, period
)

select * from final
