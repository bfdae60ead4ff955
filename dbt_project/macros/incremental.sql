{#- How the incremental models replace rows, per adapter (docs/spark.md "Incremental models").

    DuckDB: `delete+insert` on the model's unique_key (an export day for staging, an event, a
    person or an order for the marts), with the pre/post-hooks of macros/reloads.sql.
    Spark (built-in Parquet tables, no Delta/Iceberg jars here): there is no DELETE. Staging
    models, whose incremental query returns whole export days, use `insert_overwrite` of their
    `arrived_on` partitions (dbt-spark sets dynamic partition overwrite). Models keyed by event,
    person or order (fct_events, fct_sessions, fct_orders, dim_users) are rebuilt whole
    (`table`): their incremental queries return only changed rows, which no partition overwrite
    can place, so a whole rebuild is the only choice that keeps incremental equal to full. -#}

{#- The materialization of a model that is incremental on DuckDB. -#}
{% macro keyed_incremental() -%}
    {{ return(adapter.dispatch('keyed_incremental', 'recur')()) }}
{%- endmacro %}

{% macro default__keyed_incremental() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__keyed_incremental() -%}
    {{ return('table') }}
{%- endmacro %}

{#- The strategy of a model incremental by export day (unique_key arrived_on). -#}
{% macro by_day_strategy() -%}
    {{ return(adapter.dispatch('by_day_strategy', 'recur')()) }}
{%- endmacro %}

{% macro default__by_day_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__by_day_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{#- partition_by of a model incremental by export day: none on DuckDB, the day on Spark. -#}
{% macro by_day_partitions(column='arrived_on') -%}
    {{ return(adapter.dispatch('by_day_partitions', 'recur')(column)) }}
{%- endmacro %}

{% macro default__by_day_partitions(column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__by_day_partitions(column) -%}
    {{ return([column]) }}
{%- endmacro %}
