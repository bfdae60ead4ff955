{#- One row per event, attributed to its person (user_id), across sources.

    Copies of one event keep the one exported last (for Mixpanel, its distinct_id is the most
    recent canonical one), then the one received last, then by file and line; held-out copies
    (int_events_held_out) never enter.

    Incremental: a run reads only (a) the copies loaded since its last run or exported within
    lookback_days of the newest export day, (b) the stored rows of those events, so that a copy
    that arrives again competes with the one kept, (c) the stored rows whose person changed
    because a device identified since (merges are retroactive), and (d) when an export day was
    re-loaded (raw.load_ledger), every copy of the events whose stored row came from the
    replaced load: such a stored row never competes, its event is decided again from the copies
    that are left, and the post-hook deletes it when none is (macros/reloads.sql). Copies compete
    on their ids and ordering columns alone; whole rows are read only for the winners that
    differ from what is stored (another copy, person or load), and only those are written. It
    never re-reads whole history for a new day, and gives the rows a full build gives.

    Full build: only the events with more than one copy are ranked; every other event streams
    through as its one copy (34.4M events: 88 s and no spill under the 8 GB cap, where ranking
    every event and joining the winners back to their rows spilled beyond 46 GB). -#}
{{
    config(
        materialized=keyed_incremental(),
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ delete_rows_of_replaced_loads() }}",
    )
}}

{%- set columns = event_columns() -%}
{#- On an incremental run, copies compete on these columns alone (sorting whole rows, JSON
    properties included, by event costs more than the rest of the build); whole rows are read for
    the winners only. Most copies re-read by the lookback are the stored row again: they drop out
    before any wide column is read. -#}
{%- set narrow = ['event_id', 'arrived_on', 'received_at', 'source_file', 'line_number', 'device_id',
                  'user_id', 'amplitude_id', 'distinct_id', 'loaded_at'] -%}
{%- set output_columns = [
    'event_id', 'user_id', 'identity_source', 'source', 'event_name', 'event_at', 'event_date',
    'device_id', 'source_user_id', 'distinct_id', 'amplitude_id', 'insert_id', 'vendor_session_id',
    'revenue', 'currency', 'product_id', 'product_category', 'quantity', 'platform', 'os',
    'country_code', 'country_name', 'region', 'city', 'utm_source', 'utm_medium', 'utm_campaign',
    'utm_content', 'utm_term', 'referrer', 'properties', 'received_at', 'arrived_on',
    'source_file', 'line_number', 'loaded_at',
] -%}
{%- set run_started = "cast('" ~ run_started_at.strftime("%Y-%m-%d %H:%M:%S") ~ "' as " ~ dbt.type_timestamp() ~ ")" -%}

with

{#- int_events_unioned is read where needed, never through one CTE: DuckDB materializes a CTE
    that is read more than once, here a copy of every event with its properties. #}
identity_map as (
    select * from {{ ref('int_identity_map') }}
),

{% if is_incremental() %}

{#- Export days re-loaded since the last run whose stored rows come from the replaced load. -#}
{%- set replaced = replaced_days() %}

{% if replaced %}
stale as (
    -- stored rows from a replaced load: their events are decided again from the copies left
    select event_id from {{ this }}
    where {{ rows_of_replaced_loads(replaced) }}
),
{% endif %}

arrived as (
    select {{ columns | join(', ') }}
    from {{ ref('int_events_unioned') }}
    where loaded_at > cast({{ watermark('loaded_at') }} as {{ dbt.type_timestamp() }})
       or arrived_on >= cast({{ dbt.dateadd('day', -var('lookback_days'),
                                            'cast(' ~ watermark('arrived_on') ~ ' as date)') }} as date)
       {% if replaced -%}
       or event_id in (select event_id from stale)
       {%- endif %}
),

changed as (
    -- stored events whose person the map now resolves differently (narrow: ids only)
    -- (also when the evidence that linked a device vanished in a re-load: it is anonymous again)
    select existing.event_id
    from {{ this }} as existing
    {{ join_identity_map('existing') }}
    where existing.identity_source <> 'user_id'
      and (existing.user_id <> {{ stitched_person('existing', 'null') }}
           or existing.identity_source <> {{ stitched_identity_source('null') }})
),

candidates as (
    select {{ narrow | join(', ') }}, 0 as is_stored
    from arrived
    where {{ held_out_reason() }} is null
    union all
    -- stored rows of events that arrived again, or whose person changed; never a stored row
    -- of a replaced load
    select
        {% for column in narrow -%}
        {{ 'source_user_id as user_id' if column == 'user_id' else column }},
        {% endfor -%}
        1 as is_stored
    from {{ this }}
    where (event_id in (select event_id from arrived)
           or event_id in (select event_id from changed))
      {% if replaced -%}
      and not {{ rows_of_replaced_loads(replaced) }}
      {%- endif %}
),

deduplicated as (
    select
        *,
        row_number() over (
            partition by event_id
            order by arrived_on desc, received_at desc, source_file, line_number, is_stored
        ) as copy_number
    from candidates
),

stitched as (
    select
        {% for column in narrow -%}
        deduplicated.{{ column }},
        {% endfor -%}
        deduplicated.is_stored,
        {{ stitched_person('deduplicated', 'deduplicated.user_id') }} as person_id,
        {{ stitched_identity_source('deduplicated.user_id') }} as identity_source
    from deduplicated
    {{ join_identity_map('deduplicated') }}
    where deduplicated.copy_number = 1
),

changed_winners as (
    -- Winners that come out as stored are not written again (delete+insert leaves rows it is
    -- not given alone), so the models downstream see only real changes. A copy from a newer load
    -- of its day is a change even at the same place in the same file (a re-export may change an
    -- event's properties, revenue or people).
    select stitched.event_id, stitched.source_file, stitched.line_number, stitched.is_stored,
           stitched.person_id, stitched.identity_source
    from stitched
    left join {{ this }} as stored
        on stored.event_id = stitched.event_id
        and stored.source_file = stitched.source_file
        and stored.line_number = stitched.line_number
        and stored.loaded_at = stitched.loaded_at
        and stored.user_id = stitched.person_id
        and stored.identity_source = stitched.identity_source
    where stored.event_id is null
),

wide as (
    -- the whole rows of the winners to write: copies that arrived, stored rows re-attributed
    select {{ columns | join(', ') }}, 0 as is_stored
    from arrived
    where event_id in (select event_id from changed_winners where is_stored = 0)
    union all
    select
        {% for column in columns -%}
        {{ 'source_user_id as user_id' if column == 'user_id' else column }},
        {% endfor -%}
        1 as is_stored
    from {{ this }}
    where event_id in (select event_id from changed_winners where is_stored = 1)
),

winners as (
    select wide.*, changed_winners.person_id, changed_winners.identity_source
    from changed_winners
    inner join wide
        on wide.event_id = changed_winners.event_id
        and wide.is_stored = changed_winners.is_stored
        -- a stored row is one per event; copies that arrived are told apart by where they stand
        and (wide.is_stored = 1 or (wide.source_file = changed_winners.source_file
                                    and wide.line_number = changed_winners.line_number))
),

{% else %}

{#- The full build ranks only the events that have more than one copy (re-exports, late
    re-deliveries: usually few); every other event is its one copy, read once as it
    streams by. No sort or join over every event, which spilled tens of GB at 34M events. #}
copied as (
    select event_id
    from {{ ref('int_events_unioned') }}
    where {{ held_out_reason() }} is null
    group by event_id
    having count(*) > 1
),

copies as (
    select
        {{ columns | join(', ') }},
        row_number() over (
            partition by event_id
            order by arrived_on desc, received_at desc, source_file, line_number
        ) as copy_number
    from {{ ref('int_events_unioned') }}
    where {{ held_out_reason() }} is null
      and event_id in (select event_id from copied)
),

deduplicated as (
    select {{ columns | join(', ') }}
    from copies
    where copy_number = 1
    union all
    select {{ columns | join(', ') }}
    from {{ ref('int_events_unioned') }} as events
    where {{ held_out_reason() }} is null
      and not exists (select 1 from copied where copied.event_id = events.event_id)
),

winners as (
    select
        deduplicated.*,
        {{ stitched_person('deduplicated', 'deduplicated.user_id') }} as person_id,
        {{ stitched_identity_source('deduplicated.user_id') }} as identity_source
    from deduplicated
    {{ join_identity_map('deduplicated') }}
),

{% endif %}

final as (
    select
        event_id,
        person_id as user_id,
        identity_source,
        {% for column in output_columns if column not in ('event_id', 'user_id', 'identity_source', 'source_user_id') -%}
        {{ column }},
        {% endfor -%}
        user_id as source_user_id
    from winners
)

select
    {% for column in output_columns -%}
    final.{{ column }},
    {% endfor -%}
    {{ run_started }} as updated_at
from final
