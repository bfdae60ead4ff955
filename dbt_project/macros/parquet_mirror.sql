{#- On-run-start of every dbt command that builds: make the raw tables readable on this target.
    DuckDB holds them itself (the loader writes raw.*). On Spark they are views of the Parquet
    mirror (sources/parquet_mirror.py) under RECUR_PARQUET_MIRROR, so source('raw', ...) and
    load_ledger() read the same names on both engines. -#}
{% macro register_raw_tables() -%}
    {{ return(adapter.dispatch('register_raw_tables', 'recur')()) }}
{%- endmacro %}

{% macro default__register_raw_tables() -%}
    select 1
{%- endmacro %}

{% macro spark__register_raw_tables() -%}
    {%- set root = env_var('RECUR_PARQUET_MIRROR', '../data/raw-parquet') -%}
    {%- set tables = ['mixpanel_events', 'amplitude_events', 'mixpanel_profiles', 'load_ledger',
                      'quarantine', 'audience_deliveries'] -%}
    {%- if execute -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for table in tables -%}
            {%- do run_query('create or replace view raw.' ~ table ~ ' as select * from parquet.`'
                             ~ root ~ '/' ~ table ~ '`') -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
