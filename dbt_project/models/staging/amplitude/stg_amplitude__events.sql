{#- Amplitude events in Recur's event vocabulary. The event_id is device_id + $insert_id when the
    sender gave an insert id (Amplitude's own dedup key), else the uuid, so copies uploaded on
    several days share it; fct_events keeps one. Revenue is $revenue, else $price x $quantity. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='arrived_on',
        on_schema_change='fail',
        pre_hook="{{ delete_rows_of_replaced_days() }}",
    )
}}

{#- A table, not a view: the JSON properties are parsed once, when a day arrives, instead of on
    every read. Incremental by export day: a run replaces the days that were (re)loaded since, as
    the load ledger says, so a day re-loaded from an empty or all-bad file is emptied too (the
    pre-hook removes rows of replaced loads, see macros/reloads.sql). -#}

with

source as (
    select * from {{ source('raw', 'amplitude_events') }}
    {% if is_incremental() %}
    where {{ adapter.quote('partition') }} in (
        select {{ adapter.quote('partition') }} from {{ load_ledger() }}
        where source = 'amplitude'
          and loaded_at > cast({{ watermark('loaded_at') }} as {{ dbt.type_timestamp() }})
    )
    {% endif %}
),

renamed as (
    select
        'amplitude' as source,
        'amp-' || case
            when insert_id is not null and device_id is not null
                then {{ dbt.hash(dbt.concat(["device_id", "'-'", "insert_id"])) }}
            else event_key
        end as event_id,
        event_name,
        event_at,
        cast(event_at as date) as event_date,
        device_id,
        user_id,
        cast(null as {{ dbt.type_string() }}) as distinct_id,
        amplitude_id,
        insert_id,
        case when session_id > 0 then session_id end as vendor_session_id,
        cast(coalesce(
            cast({{ json_text('event_properties', '$revenue') }} as {{ dbt.type_numeric() }}),
            cast({{ json_text('event_properties', '$price') }} as {{ dbt.type_numeric() }})
            * coalesce(cast({{ json_text('event_properties', '$quantity') }} as {{ dbt.type_int() }}), 1)
        ) as {{ dbt.type_numeric() }}) as revenue,
        coalesce({{ json_text('event_properties', '$currency') }}, '{{ var("default_currency") }}')
            as currency,
        {{ json_text('event_properties', '$productId') }} as product_id,
        {{ json_text('event_properties', 'category') }} as product_category,
        coalesce(cast({{ json_text('event_properties', '$quantity') }} as {{ dbt.type_int() }}), 1)
            as quantity,
        lower(platform) as platform,
        os_name as os,
        cast(null as {{ dbt.type_string() }}) as country_code,
        country as country_name,
        region,
        city,
        coalesce({{ json_text('event_properties', 'utm_source') }}, {{ json_text('user_properties', 'utm_source') }}) as utm_source,
        coalesce({{ json_text('event_properties', 'utm_medium') }}, {{ json_text('user_properties', 'utm_medium') }}) as utm_medium,
        coalesce({{ json_text('event_properties', 'utm_campaign') }}, {{ json_text('user_properties', 'utm_campaign') }}) as utm_campaign,
        coalesce({{ json_text('event_properties', 'utm_content') }}, {{ json_text('user_properties', 'utm_content') }}) as utm_content,
        coalesce({{ json_text('event_properties', 'utm_term') }}, {{ json_text('user_properties', 'utm_term') }}) as utm_term,
        coalesce({{ json_text('event_properties', 'referrer') }}, {{ json_text('user_properties', 'referrer') }}) as referrer,
        event_properties as properties,
        client_upload_at as received_at,
        {{ adapter.quote('partition') }} as arrived_on,  -- a reserved word on BigQuery
        source_file,
        line_number,
        loaded_at
    from source
)

select * from renamed
