{#- After an incremental run of fct_sessions: a device that identified moves its events from its
    anonymous person ("device:<id>") to a real one; sessions of people who no longer have any
    events must go too. -#}
{% macro delete_orphan_sessions() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where user_id not in (select distinct user_id from {{ ref('fct_events') }})
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
