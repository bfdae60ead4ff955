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

reasoned as (
    select *, {{ held_out_reason() }} as reason from events
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
        reason
    from reasoned
    where reason is not null
)

select * from final
