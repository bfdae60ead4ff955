{#- One row per session. A session belongs to one person and one source.

    - "gap" sources (Mixpanel by default): a new session after session_timeout_minutes without
      events, and at midnight in session_timezone when session_reset_at_midnight is on (Mixpanel's
      rules). A gap of exactly the timeout continues the session.
    - "vendor" sources (Amplitude by default): the SDK's session_id, per person; events outside a
      session (session_id -1) belong to none.
    Length is the last event's time minus the first's. Sessions are numbered per person over all
    their history: an incremental run recomputes every session of each person it touches, and
    deletes the sessions of people left with no event a session can hold. -#}
{{
    config(
        materialized=keyed_incremental(),
        unique_key='user_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ delete_people_without_events(sessionizable_events()) }}",
    )
}}

{%- set gap_sources = [] -%}
{%- set vendor_sources = [] -%}
{%- for source in ['mixpanel', 'amplitude'] -%}
    {%- if var(source ~ '_sessions') == 'vendor' %}{% do vendor_sources.append(source) %}
    {%- else %}{% do gap_sources.append(source) %}{% endif -%}
{%- endfor %}

with

all_events as (
    select * from {{ ref('fct_events') }}
),

{% if is_incremental() %}

sessionizable as (
    -- events a session can hold: all of a gap source's, a vendor source's with a session id
    select user_id, count(*) as events
    from all_events
    where {{ sessionizable_events() }}
    group by user_id
),

stored as (
    select user_id, sum(events) as events from {{ this }} group by user_id
),

touched_people as (
    -- people with new or re-processed events ...
    select user_id from all_events
    where updated_at > (select max(updated_at) from {{ this }})
    union all
    -- ... and people who lost events: to someone else (a shared device's owner changed, an
    -- event re-exported with another user id) or to a re-load of its export day. Every other
    -- change to a person's events rewrites one of them, which the first branch finds.
    select stored.user_id
    from stored
    left join sessionizable on sessionizable.user_id = stored.user_id
    where stored.events <> coalesce(sessionizable.events, 0)
),

events as (
    select * from all_events
    where user_id in (select user_id from touched_people)
),

{% else %}

events as (
    select * from all_events
),

{% endif %}

gap_events as (
    select
        user_id,
        source,
        identity_source,
        event_id,
        event_at,
        lag(event_at) over (
            partition by user_id, source order by event_at nulls first, event_id nulls first
        ) as previous_event_at
    from events
    where source in ({{ ("'" ~ gap_sources | join("', '") ~ "'") if gap_sources else "''" }})
),

gap_starts as (
    select
        *,
        case
            when previous_event_at is null then 1
            when {{ dbt.datediff('previous_event_at', 'event_at', 'millisecond') }}
                > {{ var('session_timeout_minutes') }} * 60000 then 1
            {% if var('session_reset_at_midnight') -%}
            when {{ local_date('event_at') }} <> {{ local_date('previous_event_at') }} then 1
            {%- endif %}
            else 0
        end as is_session_start
    from gap_events
),

gap_sessions as (
    select
        user_id,
        source,
        identity_source,
        event_id,
        event_at,
        sum(is_session_start) over (
            -- nulls first: the default elsewhere, and BigQuery's only option with a frame
            partition by user_id, source order by event_at nulls first, event_id nulls first
            rows between unbounded preceding and current row
        ) as session_index
    from gap_starts
),

vendor_sessions as (
    select
        user_id,
        source,
        identity_source,
        event_id,
        event_at,
        vendor_session_id as session_index
    from events
    where source in ({{ ("'" ~ vendor_sources | join("', '") ~ "'") if vendor_sources else "''" }})
      and vendor_session_id is not null
),

sessionized as (
    select * from gap_sessions
    union all
    select * from vendor_sessions
),

sessions as (
    select
        user_id,
        source,
        session_index,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        count(*) as events,
        min(event_id) as first_event_id,
        {{ dbt.bool_or("identity_source = 'anonymous'") }} as is_anonymous
    from sessionized
    group by user_id, source, session_index
),

final as (
    select
        {{ surrogate_key(['user_id', 'source', 'started_at', 'first_event_id']) }} as session_id,
        user_id,
        source,
        -- row_number() is a BIGINT on DuckDB, an INT on Spark: the contract says bigint
        cast(row_number() over (partition by user_id order by started_at, source, first_event_id)
            as {{ dbt.type_bigint() }}) as session_number,
        started_at,
        ended_at,
        cast(started_at as date) as session_date,
        {{ dbt.datediff('started_at', 'ended_at', 'second') }} as duration_seconds,
        events,
        is_anonymous,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
            as updated_at
    from sessions
)

select * from final
