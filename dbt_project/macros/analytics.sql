{#- Helpers shared by the analytics models. -#}

{#- Days in one retention period: day 1, week 7, month 30 (Amplitude's and Mixpanel's rolling
    windows). -#}
{% macro period_days(unit=none) -%}
    {%- set unit = unit or var('retention_unit') -%}
    {%- set days = {'day': 1, 'week': 7, 'month': 30} -%}
    {%- if unit not in days -%}
        {{ exceptions.raise_compiler_error("retention_unit must be day, week or month, not '" ~ unit ~ "'") }}
    {%- endif -%}
    {{ return(days[unit]) }}
{%- endmacro %}

{#- The observation end: the var as_of (RECUR_AS_OF) as the end of that day, else the last event. -#}
{% macro observation_end_sql(events_relation) -%}
    {%- if var('as_of') -%}
        {{ dbt.dateadd('day', 1, "cast('" ~ var('as_of') ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
    {%- else -%}
        (select max(event_at) from {{ events_relation }})
    {%- endif -%}
{%- endmacro %}

{#- Which rolling period an event falls in, counted from a start time. -#}
{% macro period_index(start_at, event_at, unit=none) -%}
    floor({{ dbt.datediff(start_at, event_at, 'millisecond') }} / ({{ period_days(unit) }} * 86400000.0))
{%- endmacro %}

{#- Whether a timestamp falls inside the observed time: before the end of the as_of day, or up to
    and including the last event when there is no as_of. -#}
{% macro is_observed(column) -%}
    {{ column }} {{ '<' if var('as_of') else '<=' }} (select observation_end from observation)
{%- endmacro %}

{#- The last observed day: the as_of date, else the day of the last event. -#}
{% macro observation_date_sql(events_relation) -%}
    {%- if var('as_of') -%}
        cast('{{ var('as_of') }}' as date)
    {%- else -%}
        (select max(event_date) from {{ events_relation }})
    {%- endif -%}
{%- endmacro %}

{#- Tie-sharing quantile score 1..groups (issue 12): the group holding the middle of a value's
    tie block. `below` = rows with a worse value, `equal` = rows with the same value, `total` =
    all rows; the block's middle is u = (below + equal / 2) / total, in (0, 1), and the score is
    1 + floor(groups * u). Equal values always share a score; without ties it is ntile's split
    when total is a multiple of groups. -#}
{% macro tied_quantile(below, equal, total, groups) -%}
    cast(1 + floor(cast({{ groups }} * (2 * ({{ below }}) + ({{ equal }})) as {{ dbt.type_float() }})
                   / (2 * ({{ total }}))) as {{ dbt.type_int() }})
{%- endmacro %}
