{#- Model contracts name DuckDB types (`varchar`, `json`, ...) in the YAML. The contract check
    casts nulls to those types to learn what the YAML promises; on Spark the DuckDB names that
    Spark lacks are read as their Spark equivalents first, so one YAML serves both engines (the
    check still compares the types each engine reports for the model and for the YAML). -#}
{% macro spark_contract_type(data_type) -%}
    {%- set names = {'varchar': 'string', 'text': 'string', 'json': 'string'} -%}
    {{ return(names.get(data_type.strip().lower(), data_type)) }}
{%- endmacro %}

{#- dbt's own get_empty_schema_sql (dbt-adapters, macros/adapters/columns.sql), with the types
    translated; the root project's spark__ variant wins dbt's dispatch. -#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set translated = {} -%}
    {%- for name in columns -%}
        {%- set column = columns[name].copy() if columns[name] is mapping else columns[name] -%}
        {%- if column.get('data_type') -%}
            {%- do column.update({'data_type': spark_contract_type(column['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({name: column}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(translated)) }}
{%- endmacro %}
