{#- A JSON property as text. Keys may start with "$" (Mixpanel and Amplitude reserved names),
    so the path quotes them. Compiles to json_extract_string on DuckDB; sqlglot transpiles it to
    GET_JSON_OBJECT / JSON_EXTRACT_SCALAR / JSON_EXTRACT_PATH_TEXT elsewhere. -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'recur')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    json_extract_string({{ column }}, '$."{{ key }}"')
{%- endmacro %}
