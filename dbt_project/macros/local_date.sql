{#- The calendar date of a UTC timestamp in a time zone (an IANA name, default the session var). -#}
{% macro local_date(timestamp, timezone=none) -%}
    {%- set tz = timezone or var('session_timezone') -%}
    {%- if tz | upper == 'UTC' -%}
        cast({{ timestamp }} as date)
    {%- else -%}
        {{ return(adapter.dispatch('local_date', 'recur')(timestamp, tz)) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__local_date(timestamp, tz) -%}
    cast(convert_timezone('UTC', '{{ tz }}', {{ timestamp }}) as date)
{%- endmacro %}

{% macro duckdb__local_date(timestamp, tz) -%}
    cast(timezone('{{ tz }}', timezone('UTC', {{ timestamp }})) as date)
{%- endmacro %}
