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

{#- Several properties of one JSON column, parsed once per row. Select `json_texts(column, keys)`
    once (as a column of its own), then read each key with `json_texts_get(texts, keys, key)`.
    On DuckDB each json_text() call parses the whole JSON again; a list of paths parses it once
    (16 properties of 1M Mixpanel events: 14.3 s as 16 calls, 9.2 s as one list, docs/benchmarks.md).
    Elsewhere the column is the JSON itself and each key is read with json_text(). -#}
{% macro json_texts(column, keys) -%}
    {{ return(adapter.dispatch('json_texts', 'recur')(column, keys)) }}
{%- endmacro %}

{% macro default__json_texts(column, keys) -%}
    {{ column }}
{%- endmacro %}

{% macro duckdb__json_texts(column, keys) -%}
    json_extract_string({{ column }}, [
        {%- for key in keys -%}
        '$."{{ key }}"'{{ ', ' if not loop.last }}
        {%- endfor -%}
    ])
{%- endmacro %}

{% macro json_texts_get(texts, keys, key) -%}
    {{ return(adapter.dispatch('json_texts_get', 'recur')(texts, keys, key)) }}
{%- endmacro %}

{% macro default__json_texts_get(texts, keys, key) -%}
    {{ json_text(texts, key) }}
{%- endmacro %}

{% macro duckdb__json_texts_get(texts, keys, key) -%}
    {%- if key not in keys -%}
        {{ exceptions.raise_compiler_error("json_texts_get: '" ~ key ~ "' is not among the parsed keys " ~ keys) }}
    {%- endif -%}
    {{ texts }}[{{ keys.index(key) + 1 }}]
{%- endmacro %}
