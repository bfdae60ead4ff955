{#- Per customer, the sufficient statistics of the buy-till-you-die models, in days, as of the
    calibration end (the observation end; RECUR_AS_OF for a holdout): frequency = repeat purchase
    days (same-day purchases merge; the first purchase day is not counted), recency = days from
    the first to the last purchase day, age = days from the first purchase day to the calibration
    end, monetary_value = mean amount of the repeat purchase days (0 without repeats). Refunds are
    not purchases; historical_revenue nets them. orders and order_revenue count the purchases (not
    the days) and their amount up to the calibration end: the observed mean order value that
    ltv_model_params falls back to without Gamma-Gamma is sum(order_revenue) / sum(orders). -#}

with

orders as (
    select * from {{ ref('fct_orders') }}
),

calibration as (
    select {{ observation_date_sql(ref('fct_events')) }} as calibration_end
),

purchase_days as (
    select user_id, order_date, sum(revenue) as amount
    from orders
    where not is_refund
      and order_date <= (select calibration_end from calibration)
    group by user_id, order_date
),

ranked as (
    select
        *,
        row_number() over (partition by user_id order by order_date) as day_number
    from purchase_days
),

per_customer as (
    select
        user_id,
        min(order_date) as first_purchase_date,
        max(order_date) as last_purchase_date,
        count(*) - 1 as frequency,
        sum(case when day_number > 1 then amount else 0 end) as repeat_amount
    from ranked
    group by user_id
),

revenue as (
    select
        user_id,
        sum(revenue) as historical_revenue,
        count(case when not is_refund then 1 end) as orders,
        coalesce(sum(case when not is_refund then revenue end), 0) as order_revenue
    from orders
    where order_date <= (select calibration_end from calibration)
    group by user_id
),

final as (
    select
        per_customer.user_id,
        per_customer.first_purchase_date,
        per_customer.last_purchase_date,
        per_customer.frequency,
        {{ dbt.datediff('per_customer.first_purchase_date', 'per_customer.last_purchase_date', 'day') }}
            as recency_days,
        {{ dbt.datediff('per_customer.first_purchase_date', '(select calibration_end from calibration)', 'day') }}
            as age_days,
        case when per_customer.frequency > 0
             then 1.0 * per_customer.repeat_amount / per_customer.frequency else 0 end
            as monetary_value,
        revenue.historical_revenue,
        revenue.orders,
        revenue.order_revenue,
        (select calibration_end from calibration) as calibration_end
    from per_customer
    inner join revenue on revenue.user_id = per_customer.user_id
)

select * from final
