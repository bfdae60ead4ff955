{#- The event names this project is configured with: the "Event names" vars of dbt_project.yml
    as a list of (setting, event name) pairs, in the order declared. event_name_settings
    records them with each build; checks/event_names.py warns about the ones that matched
    nothing. A new model that reads an event-name var adds it here. -#}
{% macro configured_event_names() -%}
    {%- set pairs = [] -%}
    {%- for funnel in var('funnels') -%}
        {%- for step in funnel.steps -%}
            {%- do pairs.append(('funnels.' ~ funnel.name ~ '.steps[' ~ loop.index ~ ']', step)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for name in var('audience_cart_events') -%}
        {%- do pairs.append(('audience_cart_events[' ~ loop.index ~ ']', name)) -%}
    {%- endfor -%}
    {%- do pairs.append(('audience_purchase_event', var('audience_purchase_event'))) -%}
    {%- for setting in ['retention_start_event', 'retention_return_event'] -%}
        {%- if var(setting) -%}
            {%- do pairs.append((setting, var(setting))) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(pairs) }}
{%- endmacro %}

{#- A string as a SQL literal. Quotes are escaped the target's way (doubled on DuckDB; a
    backslash on Spark, where 'Can''t' reads as the two literals 'Can' 't', i.e. "Cant"). -#}
{% macro sql_string(value) -%}
    '{{ dbt.escape_single_quotes(value) }}'
{%- endmacro %}
