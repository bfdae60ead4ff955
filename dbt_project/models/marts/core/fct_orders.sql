{#- One row per purchase or refund: every event that carries revenue (refunds are negative).
    Incremental: a run writes the orders of the events fct_events wrote since (new, changed or
    re-attributed), and its post-hook deletes the orders whose event is gone or no longer
    carries revenue (an event cut from a re-loaded export day, a refund corrected away). -#}
{{
    config(
        materialized=keyed_incremental(),
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ delete_orders_without_revenue_events() }}",
    )
}}

with

events as (
    select * from {{ ref('fct_events') }}
    where revenue is not null
    {% if is_incremental() %}
      and updated_at > (select max(updated_at) from {{ this }})
    {% endif %}
),

final as (
    select
        event_id as order_id,
        user_id,
        source,
        event_name,
        event_at as ordered_at,
        event_date as order_date,
        revenue,
        currency,
        revenue < 0 as is_refund,
        product_id,
        product_category,
        quantity,
        updated_at
    from events
)

select * from final
