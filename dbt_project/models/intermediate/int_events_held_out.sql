{#- Events kept out of the marts, with the reason: never dropped silently.
    - arrived more than late_arrival_cutoff_days after they happened (a backfill of old days must
      not rewrite sessions and cohorts that were reported long ago; load them on purpose with a
      larger cutoff and a full refresh);
    - stamped more than a day after they were loaded (device clocks in the future). -#}
{{ config(materialized='view') }}

with

events as (
    select * from {{ ref('int_events_unioned') }}
),

final as (
    select
        event_id,
        source,
        event_name,
        event_at,
        arrived_on,
        loaded_at,
        source_file,
        line_number,
        case
            when {{ dbt.datediff('event_date', 'arrived_on', 'day') }} > {{ var('late_arrival_cutoff_days') }}
                then 'arrived more than {{ var("late_arrival_cutoff_days") }} days after it happened'
            else 'stamped more than a day after it was loaded'
        end as reason
    from events
    where {{ dbt.datediff('event_date', 'arrived_on', 'day') }} > {{ var('late_arrival_cutoff_days') }}
       or event_at > {{ dbt.dateadd('day', 1, 'loaded_at') }}
)

select * from final
