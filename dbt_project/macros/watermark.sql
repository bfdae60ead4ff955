{#- The largest value of an expression in this incremental model's table, as a SQL literal read
    before the model's query runs. A literal (unlike a scalar subquery) lets the database skip
    whole row groups of the source tables by their min/max statistics. In dbt unit tests `this`
    is a fixture, so the subquery form is used there. -#}
{% macro watermark(expression, default="'1970-01-01'") -%}
    {%- if (this | string).startswith('__dbt__cte__') -%}
        {{ return("(select max(" ~ expression ~ ") from " ~ this ~ ")") }}
    {%- elif execute -%}
        {%- set result = run_query("select cast(max(" ~ expression ~ ") as " ~ dbt.type_string() ~ ") from " ~ this) -%}
        {%- set value = result.columns[0].values()[0] -%}
        {{ return("'" ~ value ~ "'" if value is not none else default) }}
    {%- else -%}
        {{ return(default) }}
    {%- endif -%}
{%- endmacro %}
