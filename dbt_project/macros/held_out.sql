{#- Why an event is kept out of the marts, or null (see int_events_held_out). One definition,
    used by that model and by fct_events. -#}
{% macro held_out_reason() -%}
    case
        when {{ dbt.datediff('event_date', 'arrived_on', 'day') }} > {{ var('late_arrival_cutoff_days') }}
            then 'arrived more than {{ var("late_arrival_cutoff_days") }} days after it happened'
        when event_at > {{ dbt.dateadd('day', 1, 'loaded_at') }}
            then 'stamped more than a day after it was loaded'
    end
{%- endmacro %}
