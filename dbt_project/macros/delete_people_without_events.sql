{#- After an incremental run of a per-person model (dim_users, fct_sessions): people whose events
    all moved to someone else (a device that identified) are no longer people; drop their rows. -#}
{% macro delete_people_without_events() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where user_id not in (select distinct user_id from {{ ref('fct_events') }})
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
