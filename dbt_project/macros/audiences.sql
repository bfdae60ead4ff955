{#- Helpers shared by the audience models. -#}

{#- A list var as the inside of a SQL `in (...)`: quoted string literals, quotes doubled
    ("Can't Lose Them" -> 'Can''t Lose Them'). An empty list matches nothing. -#}
{% macro sql_in_list(values) -%}
    {%- if values is string -%}
        {{ exceptions.raise_compiler_error("sql_in_list expects a list, not the string '" ~ values ~ "'") }}
    {%- endif -%}
    {%- if values | length == 0 -%}
        null
    {%- else -%}
        {%- for value in values -%}
            '{{ dbt.escape_single_quotes(value) }}'{{ ", " if not loop.last }}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
