{#- Fails on every row where the expression is not true (false or null). On a column, the
    expression continues the column: `expression: ">= 0"` checks `<column> >= 0`. Portable SQL
    only, as in dbt_utils.expression_is_true (which this project cannot install). -#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce(({{ column_name ~ ' ' if column_name else '' }}{{ expression }}), false)

{% endtest %}
