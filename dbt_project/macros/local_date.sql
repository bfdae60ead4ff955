{#- The calendar date of a UTC timestamp in a time zone (an IANA name, default the session var).
    Timestamps are naive UTC (TIMESTAMP / TIMESTAMP_NTZ; a TIMESTAMP on BigQuery). One variant
    per adapter (no default__: no common SQL exists). -#}
{% macro local_date(timestamp, timezone=none) -%}
    {%- set tz = timezone or var('session_timezone') -%}
    {%- if tz | upper == 'UTC' -%}
        cast({{ timestamp }} as date)
    {%- else -%}
        {{ return(adapter.dispatch('local_date', 'recur')(timestamp, tz)) }}
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__local_date(timestamp, tz) -%}
    cast(timezone('{{ tz }}', timezone('UTC', {{ timestamp }})) as date)
{%- endmacro %}

{% macro snowflake__local_date(timestamp, tz) -%}
    cast(convert_timezone('UTC', '{{ tz }}', {{ timestamp }}) as date)
{%- endmacro %}

{% macro spark__local_date(timestamp, tz) -%}
    to_date(from_utc_timestamp({{ timestamp }}, '{{ tz }}'))
{%- endmacro %}

{% macro bigquery__local_date(timestamp, tz) -%}
    date({{ timestamp }}, '{{ tz }}')
{%- endmacro %}
