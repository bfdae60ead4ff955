{#- The value of `value` on the row where `ordering` is smallest, as an aggregate. -#}
{% macro arg_min(value, ordering) -%}
    {{ return(adapter.dispatch('arg_min', 'recur')(value, ordering)) }}
{%- endmacro %}

{% macro duckdb__arg_min(value, ordering) -%}
    arg_min({{ value }}, {{ ordering }})
{%- endmacro %}

{% macro spark__arg_min(value, ordering) -%}
    min_by({{ value }}, {{ ordering }})
{%- endmacro %}

{% macro snowflake__arg_min(value, ordering) -%}
    min_by({{ value }}, {{ ordering }})
{%- endmacro %}

{% macro bigquery__arg_min(value, ordering) -%}
    array_agg({{ value }} order by {{ ordering }} limit 1)[offset(0)]
{%- endmacro %}
