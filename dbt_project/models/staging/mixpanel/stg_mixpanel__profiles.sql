with

source as (
    select * from {{ source('raw', 'mixpanel_profiles') }}
),

renamed as (
    select
        distinct_id as user_id,
        lower(trim(email)) as email,
        first_name,
        last_name,
        city,
        region,
        upper(country_code) as country_code,
        created_at,
        last_seen_at,
        properties,
        loaded_at
    from source
)

select * from renamed
