{#- The columns every staged event source provides, in one order, so sources union cleanly. -#}
{% macro event_columns() -%}
    {{ return([
        'source', 'event_id', 'event_name', 'event_at', 'event_date', 'device_id', 'user_id',
        'distinct_id', 'amplitude_id', 'insert_id', 'vendor_session_id', 'revenue', 'currency',
        'product_id', 'product_category', 'quantity', 'platform', 'os', 'country_code',
        'country_name', 'region', 'city', 'utm_source', 'utm_medium', 'utm_campaign',
        'utm_content', 'utm_term', 'referrer', 'properties', 'received_at', 'arrived_on',
        'source_file', 'line_number', 'loaded_at',
    ]) }}
{%- endmacro %}
