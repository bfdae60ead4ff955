{#- Fails on every row whose value is larger than the previous row's, rows ordered by `order_by`
    within each `group_by` group: e.g. funnel users by step, or the people eligible for a
    retention cell by period (a person observed through period k was observed through k - 1). -#}
{% test not_increasing(model, column_name, order_by, group_by=[]) %}

{%- set partition = 'partition by ' ~ (group_by | join(', ')) if group_by else '' %}

select *
from (
    select
        {% for column in group_by %}{{ column }}, {% endfor %}
        {{ order_by }} as ordered_by,
        {{ column_name }} as current_value,
        lag({{ column_name }}) over ({{ partition }} order by {{ order_by }}) as previous_value
    from {{ model }}
) as sequenced
where current_value > previous_value

{% endtest %}
