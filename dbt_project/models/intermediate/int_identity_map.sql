{#- Who each device (and each Amplitude id) belongs to, learned from the events.

    Evidence, strongest first:
    1. an event that carries both the identifier and a user_id (Mixpanel's $user_id with a
       $device_id; Amplitude's user_id with a device_id or amplitude_id), the earliest one winning,
       as in Mixpanel's Simplified ID Merge and Amplitude's user attribution;
    2. Mixpanel's canonical distinct_id on an anonymous event: exports name the person a device
       merged into, even on events sent before the merge.
    A device that later identifies as a second person keeps the first (int_identity_conflicts
    lists such devices). The map is small (one row per identifier) and rebuilt on every run,
    because merges are retroactive. -#}

with

events as (
    select source, event_id, event_at, device_id, user_id, distinct_id, amplitude_id
    from {{ ref('int_events_unioned') }}
),

evidence as (
    -- one row per identifier and claimed person: the first event that links them
    select 'device' as identifier_type, device_id as identifier, user_id as person_id,
           1 as strength, min(event_at) as event_at,
           {{ arg_min('event_id', 'event_at') }} as event_id,
           {{ arg_min('source', 'event_at') }} as source
    from events
    where device_id is not null and user_id is not null
    group by device_id, user_id

    union all

    select 'amplitude_id', cast(amplitude_id as {{ dbt.type_string() }}), user_id,
           1, min(event_at), {{ arg_min('event_id', 'event_at') }}, {{ arg_min('source', 'event_at') }}
    from events
    where amplitude_id is not null and user_id is not null
    group by amplitude_id, user_id

    union all

    select 'device', device_id, distinct_id, 2, min(event_at),
           {{ arg_min('event_id', 'event_at') }}, {{ arg_min('source', 'event_at') }}
    from events
    where source = 'mixpanel'
      and user_id is null
      and device_id is not null
      and distinct_id is not null
      and distinct_id not like '$device:%'
      and distinct_id <> device_id
    group by device_id, distinct_id
),

claims as (
    select identifier_type, identifier, count(*) as people_claimed
    from evidence
    where strength = 1
    group by identifier_type, identifier
),
ranked as (
    select
        evidence.*,
        coalesce(claims.people_claimed, 1) as people_claimed,
        row_number() over (
            partition by evidence.identifier_type, evidence.identifier
            order by evidence.strength, evidence.event_at, evidence.event_id
        ) as evidence_rank
    from evidence
    left join claims
        on evidence.identifier_type = claims.identifier_type
        and evidence.identifier = claims.identifier
),

final as (
    select
        identifier_type,
        identifier,
        person_id,
        event_at as learned_at,
        event_id as learned_from_event_id,
        source as learned_from_source,
        case strength when 1 then 'identified event' else 'canonical distinct_id' end
            as learned_from,
        people_claimed
    from ranked
    where evidence_rank = 1
)

select * from final
