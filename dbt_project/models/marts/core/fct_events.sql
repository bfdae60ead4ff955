{#- One row per event, attributed to its person (user_id), across sources.

    Incremental: a run re-reads only (a) events loaded since the last run or exported within
    lookback_days of the newest export day, and (b) events whose person changed because a device
    identified since (merges are retroactive). Copies of one event keep the one exported last
    (for Mixpanel, its distinct_id is the most recent canonical one), so re-processing an event
    and building from scratch give the same row. -#}
{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

events as (
    select * from {{ ref('int_events_unioned') }}
),

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

held_out as (
    select source_file, line_number from {{ ref('int_events_held_out') }}
),

{% if is_incremental() %}

watermark as (
    select max(loaded_at) as loaded_at, max(arrived_on) as arrived_on from {{ this }}
),

reattributed as (
    -- events stored under an identity that the map now resolves differently
    select existing.event_id
    from {{ this }} as existing
    left join identity_map as by_device
        on by_device.identifier_type = 'device'
        and by_device.identifier = existing.device_id
    left join identity_map as by_amplitude_id
        on by_amplitude_id.identifier_type = 'amplitude_id'
        and by_amplitude_id.identifier = cast(existing.amplitude_id as {{ dbt.type_string() }})
    where existing.identity_source <> 'user_id'
      and existing.user_id <> coalesce(by_device.person_id, by_amplitude_id.person_id, existing.user_id)
),

touched as (
    select event_id from events
    where loaded_at > (select loaded_at from watermark)
       or arrived_on >= {{ dbt.dateadd('day', -var('lookback_days'), '(select arrived_on from watermark)') }}
    union all
    select event_id from reattributed
),

candidates as (
    select events.* from events
    where events.event_id in (select event_id from touched)
),

{% else %}

candidates as (
    select * from events
),

{% endif %}

deduplicated as (
    select
        *,
        row_number() over (
            partition by event_id
            order by arrived_on desc, received_at desc, source_file, line_number
        ) as copy_number
    from candidates
    where not exists (
        select 1 from held_out
        where held_out.source_file = candidates.source_file
          and held_out.line_number = candidates.line_number
    )
),

stitched as (
    select
        deduplicated.*,
        coalesce(
            deduplicated.user_id,
            by_device.person_id,
            by_amplitude_id.person_id,
            'device:' || deduplicated.device_id,
            'amplitude:' || cast(deduplicated.amplitude_id as {{ dbt.type_string() }}),
            'distinct:' || deduplicated.distinct_id
        ) as person_id,
        case
            when deduplicated.user_id is not null then 'user_id'
            when by_device.person_id is not null then 'device'
            when by_amplitude_id.person_id is not null then 'amplitude_id'
            else 'anonymous'
        end as identity_source
    from deduplicated
    left join identity_map as by_device
        on by_device.identifier_type = 'device'
        and by_device.identifier = deduplicated.device_id
    left join identity_map as by_amplitude_id
        on by_amplitude_id.identifier_type = 'amplitude_id'
        and by_amplitude_id.identifier = cast(deduplicated.amplitude_id as {{ dbt.type_string() }})
    where deduplicated.copy_number = 1
),

final as (
    select
        event_id,
        person_id as user_id,
        identity_source,
        source,
        event_name,
        event_at,
        event_date,
        device_id,
        user_id as source_user_id,
        distinct_id,
        amplitude_id,
        vendor_session_id,
        revenue,
        currency,
        product_id,
        product_category,
        quantity,
        platform,
        os,
        country_code,
        country_name,
        region,
        city,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_content,
        utm_term,
        referrer,
        properties,
        arrived_on,
        loaded_at,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
            as updated_at
    from stitched
)

select * from final
