{#- Fails (one row) when the model's row count is not `equals`, or lies outside
    [min_value, max_value]. For lookups whose size is part of their meaning, such as the 25
    cells of the R x F grid. -#}
{% test row_count(model, equals=none, min_value=none, max_value=none) %}

{%- if equals is none and min_value is none and max_value is none -%}
    {{ exceptions.raise_compiler_error("row_count needs equals, min_value, max_value or a pair of bounds") }}
{%- endif %}

select rows_in_model
from (select count(*) as rows_in_model from {{ model }}) as counted
where not (
    1 = 1
    {%- if equals is not none %}
    and rows_in_model = {{ equals }}
    {%- endif %}
    {%- if min_value is not none %}
    and rows_in_model >= {{ min_value }}
    {%- endif %}
    {%- if max_value is not none %}
    and rows_in_model <= {{ max_value }}
    {%- endif %}
)

{% endtest %}
