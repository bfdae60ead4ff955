{#- Mixpanel events in Recur's event vocabulary. Copies of one event exported on several days
    share an event_id; fct_events keeps one. -#}
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
    select * from {{ source('raw', 'mixpanel_events') }}
    {% if is_incremental() %}
    where {{ adapter.quote('partition') }} in (
        select {{ adapter.quote('partition') }} from {{ load_ledger() }}
        where source = 'mixpanel'
          and loaded_at > cast({{ watermark('loaded_at') }} as {{ dbt.type_timestamp() }})
    )
    {% endif %}
),

renamed as (
    select
        'mixpanel' as source,
        'mp-' || event_key as event_id,
        event_name,
        event_at,
        cast(event_at as date) as event_date,
        device_id,
        user_id,
        distinct_id,
        cast(null as {{ dbt.type_bigint() }}) as amplitude_id,
        insert_id,
        cast(null as {{ dbt.type_bigint() }}) as vendor_session_id,
        cast({{ json_text('properties', var('mixpanel_revenue_property')) }} as {{ dbt.type_numeric() }})
            as revenue,
        coalesce({{ json_text('properties', 'currency') }}, '{{ var("default_currency") }}')
            as currency,
        {{ json_text('properties', 'product_id') }} as product_id,
        {{ json_text('properties', 'category') }} as product_category,
        cast({{ json_text('properties', 'quantity') }} as {{ dbt.type_int() }}) as quantity,
        case lower({{ json_text('properties', 'mp_lib') }})
            when 'iphone' then 'ios'
            when 'swift' then 'ios'
            when 'android' then 'android'
            else 'web'
        end as platform,
        {{ json_text('properties', '$os') }} as os,
        upper({{ json_text('properties', 'mp_country_code') }}) as country_code,
        cast(null as {{ dbt.type_string() }}) as country_name,
        {{ json_text('properties', '$region') }} as region,
        {{ json_text('properties', '$city') }} as city,
        {{ json_text('properties', 'utm_source') }} as utm_source,
        {{ json_text('properties', 'utm_medium') }} as utm_medium,
        {{ json_text('properties', 'utm_campaign') }} as utm_campaign,
        {{ json_text('properties', 'utm_content') }} as utm_content,
        {{ json_text('properties', 'utm_term') }} as utm_term,
        {{ json_text('properties', '$initial_referrer') }} as referrer,
        properties,
        processed_at as received_at,
        {{ adapter.quote('partition') }} as arrived_on,  -- a reserved word on BigQuery
        source_file,
        line_number,
        loaded_at
    from source
)

select * from renamed
