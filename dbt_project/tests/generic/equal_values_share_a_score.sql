{#- Fails with one row per value of `value_column` whose rows carry more than one value of the
    tested score column: customers equal on what is scored must get the same score, whatever their
    ids or the order rows are stored in (RFM scores, engagement bands; docs/metrics.md). -#}
{% test equal_values_share_a_score(model, column_name, value_column) %}

select
    {{ value_column }} as scored_value,
    count(distinct {{ column_name }}) as scores,
    min({{ column_name }}) as lowest_score,
    max({{ column_name }}) as highest_score
from {{ model }}
group by {{ value_column }}
having count(distinct {{ column_name }}) > 1

{% endtest %}
