{#- A condition on fct_events rows: the events a session can hold. All of a "gap" source's events
    (var <source>_sessions), and a "vendor" source's events that carry the SDK's session id. One
    definition for fct_sessions and its post-hook. -#}
{% macro sessionizable_events() -%}
    {%- set gap_sources = [] -%}
    {%- for source in ['mixpanel', 'amplitude'] if var(source ~ '_sessions') != 'vendor' -%}
        {%- do gap_sources.append("'" ~ source ~ "'") -%}
    {%- endfor -%}
    (source in ({{ gap_sources | join(', ') if gap_sources else "''" }}) or vendor_session_id is not null)
{%- endmacro %}
