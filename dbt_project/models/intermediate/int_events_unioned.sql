{#- Every source's events in one vocabulary, each with both a country code and a name. Copies of
    one event (re-exports) are still here; fct_events keeps one per event_id. -#}
{{ config(materialized='view') }}

with

mixpanel as (
    select {{ event_columns() | join(', ') }} from {{ ref('stg_mixpanel__events') }}
),

amplitude as (
    select {{ event_columns() | join(', ') }} from {{ ref('stg_amplitude__events') }}
),

countries as (
    select * from {{ ref('countries') }}
),

unioned as (
    select * from mixpanel
    union all
    select * from amplitude
),

final as (
    select
        {% for column in event_columns() if column not in ('country_code', 'country_name') -%}
        unioned.{{ column }},
        {% endfor -%}
        coalesce(unioned.country_code, by_name.country_code) as country_code,
        coalesce(unioned.country_name, by_code.country_name) as country_name
    from unioned
    left join countries as by_code on unioned.country_code = by_code.country_code
    left join countries as by_name on unioned.country_name = by_name.country_name
)

select * from final
