{#- The identity map joined to the events of the relation `row` as by_device and
    by_amplitude_id (the CTE `identity_map`), for stitched_person and stitched_identity_source. -#}
{% macro join_identity_map(row) -%}
    left join identity_map as by_device
        on by_device.identifier_type = 'device'
        and by_device.identifier = {{ row }}.device_id
    left join identity_map as by_amplitude_id
        on by_amplitude_id.identifier_type = 'amplitude_id'
        and by_amplitude_id.identifier = cast({{ row }}.amplitude_id as {{ dbt.type_string() }})
{%- endmacro %}


{#- Who an event belongs to, as fct_events stitches it: its own user id (`user_id`, an
    expression), else the identity map's person for its device or Amplitude id (joined as
    by_device and by_amplitude_id: join_identity_map), else its anonymous ids (columns of the
    relation `row`). -#}
{% macro stitched_person(row, user_id) -%}
    coalesce(
        {{ user_id }},
        by_device.person_id,
        by_amplitude_id.person_id,
        'device:' || {{ row }}.device_id,
        'amplitude:' || cast({{ row }}.amplitude_id as {{ dbt.type_string() }}),
        'distinct:' || {{ row }}.distinct_id
    )
{%- endmacro %}


{#- Which evidence stitched_person used: user_id, device, amplitude_id or anonymous. -#}
{% macro stitched_identity_source(user_id) -%}
    case
        when {{ user_id }} is not null then 'user_id'
        when by_device.person_id is not null then 'device'
        when by_amplitude_id.person_id is not null then 'amplitude_id'
        else 'anonymous'
    end
{%- endmacro %}
