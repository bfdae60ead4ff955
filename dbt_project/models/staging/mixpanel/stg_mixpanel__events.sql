{#- Mixpanel events in Recur's event vocabulary. Copies of one event exported on several days
    share an event_id; fct_events keeps one. -#}
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

{%- set keys = [
    var('mixpanel_revenue_property'), 'currency', 'product_id', 'category', 'quantity', 'mp_lib',
    '$os', 'mp_country_code', '$region', '$city', 'utm_source', 'utm_medium', 'utm_campaign',
    'utm_content', 'utm_term', '$initial_referrer',
] -%}

with

source as (
    -- the properties Recur reads, parsed once per event (macros/json.sql)
    select *, {{ json_texts('properties', keys) }} as property_texts
    from {{ source('raw', 'mixpanel_events') }}
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
        cast({{ json_texts_get('property_texts', keys, var('mixpanel_revenue_property')) }} as {{ dbt.type_numeric() }})
            as revenue,
        coalesce({{ json_texts_get('property_texts', keys, 'currency') }}, '{{ var("default_currency") }}')
            as currency,
        {{ json_texts_get('property_texts', keys, 'product_id') }} as product_id,
        {{ json_texts_get('property_texts', keys, 'category') }} as product_category,
        cast({{ json_texts_get('property_texts', keys, 'quantity') }} as {{ dbt.type_int() }}) as quantity,
        case lower({{ json_texts_get('property_texts', keys, 'mp_lib') }})
            when 'iphone' then 'ios'
            when 'swift' then 'ios'
            when 'android' then 'android'
            else 'web'
        end as platform,
        {{ json_texts_get('property_texts', keys, '$os') }} as os,
        upper({{ json_texts_get('property_texts', keys, 'mp_country_code') }}) as country_code,
        cast(null as {{ dbt.type_string() }}) as country_name,
        {{ json_texts_get('property_texts', keys, '$region') }} as region,
        {{ json_texts_get('property_texts', keys, '$city') }} as city,
        {{ json_texts_get('property_texts', keys, 'utm_source') }} as utm_source,
        {{ json_texts_get('property_texts', keys, 'utm_medium') }} as utm_medium,
        {{ json_texts_get('property_texts', keys, 'utm_campaign') }} as utm_campaign,
        {{ json_texts_get('property_texts', keys, 'utm_content') }} as utm_content,
        {{ json_texts_get('property_texts', keys, 'utm_term') }} as utm_term,
        {{ json_texts_get('property_texts', keys, '$initial_referrer') }} as referrer,
        properties,
        processed_at as received_at,
        {{ adapter.quote('partition') }} as arrived_on,  -- a reserved word on BigQuery
        source_file,
        line_number,
        loaded_at
    from source
)

select * from renamed
