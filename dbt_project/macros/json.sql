{#- A JSON property as text. Keys may start with "$" (Mixpanel and Amplitude reserved names),
    so every variant quotes the key in its path. One variant per adapter: dbt renders the model
    text on the target as it is, so the JSON function must be that engine's own (there is no
    default__: an adapter without a variant fails at compile time instead of at run time).
    Keys must not contain quotes. The raw JSON column is text (DuckDB's JSON type, a STRING /
    VARCHAR elsewhere). -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'recur')(column, key)) }}
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
    json_extract_string({{ column }}, '$."{{ key }}"')
{%- endmacro %}

{#- Spark / Databricks: get_json_object with a ['field'] subscript (backslash-escaped quotes). -#}
{% macro spark__json_text(column, key) -%}
    get_json_object({{ column }}, '$[\'{{ key }}\']')
{%- endmacro %}

{#- Snowflake: the path's index operator with a double-quoted field name. -#}
{% macro snowflake__json_text(column, key) -%}
    json_extract_path_text({{ column }}, '["{{ key }}"]')
{%- endmacro %}

{#- BigQuery: JSON_VALUE (STRING or JSON input); double quotes escape the key. -#}
{% macro bigquery__json_text(column, key) -%}
    json_value({{ column }}, '$."{{ key }}"')
{%- endmacro %}
