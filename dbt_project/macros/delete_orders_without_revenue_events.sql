{#- After an incremental run of fct_orders: drop the orders whose event is no longer in fct_events
    or no longer carries revenue (both happen when an export day is re-loaded). -#}
{% macro delete_orders_without_revenue_events() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where order_id not in (
        select event_id from {{ ref('fct_events') }} where revenue is not null
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
