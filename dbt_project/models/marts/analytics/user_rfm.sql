{#- Recency, frequency and monetary value per customer (people with at least one purchase), as
    of the observation end, with quintile scores 1-5 (5 = best) and the R x F segment.

    - recency_days: days from the last purchase to the observation end;
    - frequency: purchases (refunds excluded); monetary: net revenue (refunds included);
    - scores (docs/metrics.md, RFM): equal values share a score. R and M: the quintile holding
      the middle of the customer's tie block in the value order (macro tied_quantile). F: 1 =
      one purchase; 2-5 = the quartile, among repeat buyers, holding the middle of the tie
      block (one-time buyers are most customers and cannot be split by frequency);
    - segment: the seed rfm_segments maps (R, F) to one of 10 segments; R=1, F=1 becomes "Lost"
      when rfm_split_lost is on;
    - top_category: the product category the customer bought most often (then by revenue, then
      by name), for micro-segments such as "At Risk x Books". -#}

with

orders as (
    select * from {{ ref('fct_orders') }}
),

observation as (
    select {{ observation_end_sql(ref('fct_events')) }} as observation_end
),

customers as (
    select
        user_id,
        max(case when not is_refund then ordered_at end) as last_order_at,
        count(case when not is_refund then 1 end) as frequency,
        sum(revenue) as monetary
    from orders
    where {{ is_observed('ordered_at') }}
    group by user_id
    having count(case when not is_refund then 1 end) > 0
),

measured as (
    select
        user_id,
        last_order_at,
        {{ dbt.datediff('cast(last_order_at as date)', observation_date_sql(ref('fct_events')), 'day') }}
            as recency_days,
        frequency,
        monetary
    from customers
),

ranked as (
    select
        *,
        count(*) over () as customers,
        rank() over (order by recency_days desc) - 1 as r_below,
        count(*) over (partition by recency_days) as r_equal,
        rank() over (order by monetary) - 1 as m_below,
        count(*) over (partition by monetary) as m_equal,
        count(case when frequency > 1 then 1 end) over () as repeat_buyers,
        rank() over (order by frequency) - 1 as f_below,
        count(*) over (partition by frequency) as f_equal
    from measured
),

scored as (
    select
        user_id,
        last_order_at,
        recency_days,
        frequency,
        monetary,
        {{ tied_quantile('r_below', 'r_equal', 'customers', 5) }} as r_score,
        case
            when frequency = 1 then 1
            -- repeat buyers: below them are all one-time buyers (customers - repeat_buyers)
            else 1 + {{ tied_quantile('f_below - (customers - repeat_buyers)', 'f_equal', 'repeat_buyers', 4) }}
        end as f_score,
        {{ tied_quantile('m_below', 'm_equal', 'customers', 5) }} as m_score
    from ranked
),

categories as (
    select
        user_id,
        product_category,
        row_number() over (
            partition by user_id
            order by count(*) desc, sum(revenue) desc, product_category
        ) as category_rank
    from orders
    where not is_refund and product_category is not null and {{ is_observed('ordered_at') }}
    group by user_id, product_category
),

segments as (
    select * from {{ ref('rfm_segments') }}
),

final as (
    select
        scored.user_id,
        scored.last_order_at,
        scored.recency_days,
        scored.frequency,
        scored.monetary,
        scored.r_score,
        scored.f_score,
        scored.m_score,
        cast(scored.r_score as {{ dbt.type_string() }})
            || cast(scored.f_score as {{ dbt.type_string() }})
            || cast(scored.m_score as {{ dbt.type_string() }}) as rfm_cell,
        case
            when {{ 'true' if var('rfm_split_lost') else 'false' }}
                 and scored.r_score = 1 and scored.f_score = 1 then 'Lost'
            else segments.segment
        end as rfm_segment,
        categories.product_category as top_category
    from scored
    inner join segments
        on segments.r_score = scored.r_score and segments.f_score = scored.f_score
    left join categories
        on categories.user_id = scored.user_id and categories.category_rank = 1
)

select
    *,
    rfm_segment || coalesce(' x ' || top_category, '') as micro_segment
from final
