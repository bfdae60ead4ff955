{#- Fails (one row) unless the column splits the rows into `groups` groups numbered 1..groups
    whose sizes differ by at most one, as ntile(groups) does: every group is used when there are
    at least `groups` rows, and the earlier groups are the larger ones. Pair with accepted_range
    for the numbering. -#}
{% test evenly_split(model, column_name, groups) %}

with sizes as (
    select {{ column_name }} as tile, count(*) as rows_in_tile
    from {{ model }}
    group by {{ column_name }}
),

ordered as (
    select
        tile,
        rows_in_tile,
        lag(rows_in_tile) over (order by tile) as rows_in_previous_tile
    from sizes
)

select
    count(*) as tiles,
    sum(rows_in_tile) as total_rows,
    min(rows_in_tile) as smallest_tile,
    max(rows_in_tile) as largest_tile
from ordered
having count(*) > 0
   and (max(rows_in_tile) - min(rows_in_tile) > 1
        or count(*) <> case when sum(rows_in_tile) < {{ groups }} then sum(rows_in_tile) else {{ groups }} end
        or sum(case when rows_in_tile > rows_in_previous_tile then 1 else 0 end) > 0)

{% endtest %}
