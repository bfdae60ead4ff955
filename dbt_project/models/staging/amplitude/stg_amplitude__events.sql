{#- Amplitude events in Recur's event vocabulary. The event_id is device_id + $insert_id when the
    sender gave an insert id (Amplitude's own dedup key), else the uuid, so copies uploaded on
    several days share it; fct_events keeps one. Revenue is $revenue, else $price x $quantity. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=by_day_strategy(),
        partition_by=by_day_partitions(),
        unique_key='arrived_on',
        on_schema_change='fail',
        pre_hook="{{ delete_rows_of_replaced_days() }}",
    )
}}

{#- A table, not a view: the JSON properties are parsed once, when a day arrives, instead of on
    every read. Incremental by export day: a run replaces the days that were (re)loaded since, as
    the load ledger says, so a day re-loaded from an empty or all-bad file is emptied too (the
    pre-hook removes rows of replaced loads, see macros/reloads.sql). -#}

{%- set utm_keys = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term', 'referrer'] -%}
{%- set event_keys = ['$revenue', '$price', '$quantity', '$currency', '$productId', 'category'] + utm_keys -%}

with

source as (
    -- the properties Recur reads, parsed once per event (macros/json.sql)
    select
        *,
        {{ json_texts('event_properties', event_keys) }} as event_texts,
        {{ json_texts('user_properties', utm_keys) }} as user_texts
    from {{ source('raw', 'amplitude_events') }}
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
            cast({{ json_texts_get('event_texts', event_keys, '$revenue') }} as {{ dbt.type_numeric() }}),
            cast({{ json_texts_get('event_texts', event_keys, '$price') }} as {{ dbt.type_numeric() }})
            * coalesce(cast({{ json_texts_get('event_texts', event_keys, '$quantity') }} as {{ dbt.type_int() }}), 1)
        ) as {{ dbt.type_numeric() }}) as revenue,
        coalesce({{ json_texts_get('event_texts', event_keys, '$currency') }}, '{{ var("default_currency") }}')
            as currency,
        {{ json_texts_get('event_texts', event_keys, '$productId') }} as product_id,
        {{ json_texts_get('event_texts', event_keys, 'category') }} as product_category,
        coalesce(cast({{ json_texts_get('event_texts', event_keys, '$quantity') }} as {{ dbt.type_int() }}), 1)
            as quantity,
        lower(platform) as platform,
        os_name as os,
        cast(null as {{ dbt.type_string() }}) as country_code,
        country as country_name,
        region,
        city,
        coalesce({{ json_texts_get('event_texts', event_keys, 'utm_source') }}, {{ json_texts_get('user_texts', utm_keys, 'utm_source') }}) as utm_source,
        coalesce({{ json_texts_get('event_texts', event_keys, 'utm_medium') }}, {{ json_texts_get('user_texts', utm_keys, 'utm_medium') }}) as utm_medium,
        coalesce({{ json_texts_get('event_texts', event_keys, 'utm_campaign') }}, {{ json_texts_get('user_texts', utm_keys, 'utm_campaign') }}) as utm_campaign,
        coalesce({{ json_texts_get('event_texts', event_keys, 'utm_content') }}, {{ json_texts_get('user_texts', utm_keys, 'utm_content') }}) as utm_content,
        coalesce({{ json_texts_get('event_texts', event_keys, 'utm_term') }}, {{ json_texts_get('user_texts', utm_keys, 'utm_term') }}) as utm_term,
        coalesce({{ json_texts_get('event_texts', event_keys, 'referrer') }}, {{ json_texts_get('user_texts', utm_keys, 'referrer') }}) as referrer,
        event_properties as properties,
        client_upload_at as received_at,
        {{ adapter.quote('partition') }} as arrived_on,  -- a reserved word on BigQuery
        source_file,
        line_number,
        loaded_at
    from source
)

select * from renamed
