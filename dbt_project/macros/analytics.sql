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

{#- The var as_of (RECUR_AS_OF) as a checked 'YYYY-MM-DD' day, or '' when unset. It is pasted
    into SQL, so anything else (a timestamp, 2026-13-01, a quote) stops the build here, naming
    the setting, instead of failing later as a DuckDB conversion error. -#}
{% macro as_of_date() -%}
    {%- set raw = var('as_of') -%}
    {%- set value = (raw | string).strip() if raw is not none else '' -%}
    {%- if not value -%}
        {{ return('') }}
    {%- endif -%}
    {%- set parts = modules.re.fullmatch('([0-9]{4})-([0-9]{2})-([0-9]{2})', value) -%}
    {%- set valid = false -%}
    {%- if parts -%}
        {%- set year, month, day = parts.group(1) | int, parts.group(2) | int, parts.group(3) | int -%}
        {%- set leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 -%}
        {%- set month_days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] -%}
        {%- set valid = year >= 1 and 1 <= month <= 12 and 1 <= day <= month_days[month - 1] -%}
    {%- endif -%}
    {%- if not valid -%}
        {{ exceptions.raise_compiler_error("as_of (RECUR_AS_OF) is '" ~ value ~ "', not a date: set it to a day, YYYY-MM-DD (e.g. 2026-02-14), or unset it for the last event") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

{#- The observation end: the var as_of (RECUR_AS_OF) as the end of that day, else the last event. -#}
{% macro observation_end_sql(events_relation) -%}
    {%- if as_of_date() -%}
        {{ dbt.dateadd('day', 1, "cast('" ~ as_of_date() ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
    {%- else -%}
        (select max(event_at) from {{ events_relation }})
    {%- endif -%}
{%- endmacro %}

{#- Which rolling period an event falls in, counted from a start time. The difference is in
    parentheses: dbt-spark's millisecond datediff is a sum (`case ... end + ms - ms`), of which the
    division would otherwise take only the last term. -#}
{% macro period_index(start_at, event_at, unit=none) -%}
    floor(({{ dbt.datediff(start_at, event_at, 'millisecond') }}) / ({{ period_days(unit) }} * 86400000.0))
{%- endmacro %}

{#- Whether a timestamp falls inside the observed time: before the end of the as_of day, or up to
    and including the last event when there is no as_of. -#}
{% macro is_observed(column) -%}
    {{ column }} {{ '<' if as_of_date() else '<=' }} (select observation_end from observation)
{%- endmacro %}

{#- The last observed day: the as_of date, else the day of the last event. -#}
{% macro observation_date_sql(events_relation) -%}
    {%- if as_of_date() -%}
        cast('{{ as_of_date() }}' as date)
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
