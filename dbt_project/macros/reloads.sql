{#- Re-loaded export days.

    The loader replaces an export day's rows, and its lines in raw.load_ledger, whenever one of
    the day's files changed (fewer lines, an empty or all-bad file, a file deleted, an event
    changed); every row and ledger line of one load carries the same loaded_at. So a row of a
    model that keeps (source, arrived_on, loaded_at) is stale exactly when its export day has a
    later load in the ledger: it comes from a load that was replaced. -#}

{#- raw.load_ledger: one line per file loaded, with the export day (`partition`) and loaded_at.
    Not a dbt source, so that it adds no asset to the lineage: the ingest assets write it in the
    same transaction as the raw events tables, which the staging models depend on. -#}
{% macro load_ledger() -%}
    {{ return(adapter.dispatch('load_ledger', 'recur')()) }}
{%- endmacro %}

{% macro default__load_ledger() -%}
    {{ return(api.Relation.create(database=target.database, schema='raw', identifier='load_ledger')) }}
{%- endmacro %}

{#- Spark: the ledger's folder in the Parquet mirror, as the raw sources (_raw__sources.yml). -#}
{% macro spark__load_ledger() -%}
    {%- set folder = env_var('RECUR_PARQUET_MIRROR', '../data/raw-parquet') ~ '/load_ledger' -%}
    {{ return(api.Relation.create(schema='parquet', identifier=folder, quote_policy={'identifier': true})) }}
{%- endmacro %}


{#- The latest load of each export day: (source, arrived_on, loaded_at) with the columns renamed
    so that they never capture a column of the query they are used in. -#}
{% macro latest_loads() -%}
    select
        source as ledger_source,
        {{ adapter.quote('partition') }} as ledger_day,
        max(loaded_at) as ledger_loaded_at
    from {{ load_ledger() }}
    group by source, {{ adapter.quote('partition') }}
{%- endmacro %}


{#- Post-hook of fct_events: delete the rows that come from a replaced load. The model decides
    again every event whose stored row came from one (from the copies left), so what is left of a
    replaced load after the run is exactly what vanished from the source: an event cut from its
    file, every event of a day whose file is now empty or all bad, the events of a deleted file.
    Exact whatever the watermarks say (it compares every row with the ledger, reading three narrow
    columns), so a run also repairs what an earlier one left. -#}
{% macro delete_rows_of_replaced_loads() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where loaded_at < (
        select max(latest.ledger_loaded_at)
        from ({{ latest_loads() }}) as latest
        where latest.ledger_source = source and latest.ledger_day = arrived_on
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#- Pre-hook of the staging models: delete the rows of replaced loads before the re-loaded days
    are parsed again. The days are listed before the run (replaced_days), so the database reads
    only their row groups; a day re-loaded from an empty or all-bad file ends up empty.
    Where days are overwritten whole (insert_overwrite on Spark: macros/incremental.sql) the
    overwrite replaces every re-loaded day that still has rows; the days' partitions are dropped
    first, so that a day left with no row (an empty or all-bad file) ends up empty there too. -#}
{% macro delete_rows_of_replaced_days() -%}
    {%- set days = replaced_days() if is_incremental() else [] -%}
    {%- if days and by_day_strategy() == 'insert_overwrite' -%}
    {%- for day in days | map(attribute=1) | unique -%}
        {%- do run_query('alter table ' ~ this ~ " drop if exists partition (arrived_on = '" ~ day ~ "')") -%}
    {%- endfor -%}
    select 1
    {%- elif days -%}
    delete from {{ this }} where {{ rows_of_replaced_loads(days) }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#- The export days whose rows in this model come from a replaced load, read before the model's
    query runs: a list of (source, day, loaded_at) strings, loaded_at being the day's latest load.
    Only days loaded since the model's newest row can be such days (a successful run leaves no
    stale rows behind), and of those only the ones the model holds older rows of: a new export
    day is not a re-load. Empty in dbt unit tests and when nothing was re-loaded. -#}
{% macro replaced_days() -%}
    {%- if not execute or (this | string).startswith('__dbt__cte__') -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set loads_sql -%}
        select ledger_source,
               cast(ledger_day as {{ dbt.type_string() }}),
               cast(ledger_loaded_at as {{ dbt.type_string() }})
        from ({{ latest_loads() }}) as latest
        where ledger_loaded_at > cast({{ watermark('loaded_at') }} as {{ dbt.type_timestamp() }})
        order by 1, 2
    {%- endset -%}
    {%- set loads = run_query(loads_sql).rows | list -%}
    {%- if not loads -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set stale_sql -%}
        select distinct source, cast(arrived_on as {{ dbt.type_string() }})
        from {{ this }}
        where {{ rows_of_replaced_loads(loads) }}
    {%- endset -%}
    {%- set stale = [] -%}
    {%- for row in run_query(stale_sql).rows -%}
        {%- do stale.append(row[0] ~ '/' ~ row[1]) -%}
    {%- endfor -%}
    {%- set replaced = [] -%}
    {%- for load in loads if (load[0] ~ '/' ~ load[1]) in stale -%}
        {%- do replaced.append([load[0], load[1], load[2]]) -%}
    {%- endfor -%}
    {{ return(replaced) }}
{%- endmacro %}


{#- A condition on a row (optionally of `alias`) that holds when it comes from a load older than
    its day's load in `days` (a list of (source, day, loaded_at)); false when `days` is empty.
    Literals, so the database skips the row groups of other days by their statistics. -#}
{% macro rows_of_replaced_loads(days, alias=none) -%}
    {%- set p = (alias ~ '.') if alias else '' -%}
    {%- if not days -%}
    1 = 0
    {%- else -%}
    ({% for source, day, loaded_at in days %}
        {{ 'or ' if not loop.first }}({{ p }}source = '{{ source }}'
            and {{ p }}arrived_on = cast('{{ day }}' as date)
            and {{ p }}loaded_at < cast('{{ loaded_at }}' as {{ dbt.type_timestamp() }}))
    {%- endfor %}
    )
    {%- endif -%}
{%- endmacro %}
