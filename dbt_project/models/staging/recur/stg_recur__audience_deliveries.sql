{#- The syncs' delivery history (raw.audience_deliveries), one row per sync run, key and event:
    who entered an audience at a destination, was sent, held out, capped, refused, or left. -#}

select
    run_id,
    sync,
    audience,
    destination,
    key,
    person_id,
    event,
    operation,
    held_out,
    reason,
    event_at,
    cast(event_at as date) as event_date
from {{ source('raw', 'audience_deliveries') }}
