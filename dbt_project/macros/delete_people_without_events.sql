{#- After an incremental run of a per-person model (dim_users, fct_sessions): people whose events
    all moved to someone else (a device that identified) or vanished from a re-loaded export day
    are no longer people; drop their rows. `events_where` narrows the events that count (e.g. the
    ones a session can hold). -#}
{% macro delete_people_without_events(events_where=none) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where user_id not in (
        select distinct user_id from {{ ref('fct_events') }}
        {% if events_where %}where {{ events_where }}{% endif %}
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
