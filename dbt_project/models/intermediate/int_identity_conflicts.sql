{#- Devices that identified as more than one person. They stay with the first person; the events
    that carry another user_id stay with that user. Listed here so someone can look. -#}

with

identified as (
    select device_id, user_id, min(event_at) as first_identified_at, count(*) as events
    from {{ ref('int_events_unioned') }}
    where device_id is not null and user_id is not null
    group by device_id, user_id
),

identity_map as (
    select identifier as device_id, person_id
    from {{ ref('int_identity_map') }}
    where identifier_type = 'device'
),

final as (
    select
        identified.device_id,
        identity_map.person_id as kept_person_id,
        identified.user_id as other_user_id,
        identified.first_identified_at as other_identified_at,
        identified.events as other_user_events
    from identified
    inner join identity_map on identified.device_id = identity_map.device_id
    where identified.user_id <> identity_map.person_id
)

select * from final
