"""Mixpanel raw-export lines: parsing, validation and the de-duplication rule, as DuckDB SQL.

Each line is parsed once with ``from_json`` into the few typed fields we need; the whole property bag
is kept as JSON. Mixpanel's own rule treats events with the same event, distinct_id, time and
``$insert_id`` as one; ``distinct_id`` changes when a day is re-exported after an ID merge, so the key
here is event, time and ``$insert_id`` (formats.md §1), falling back to a hash of the properties
without the identity fields when an event has no ``$insert_id``.
"""

from __future__ import annotations

from sources import validation

SOURCE = "mixpanel"
TABLE = "raw.mixpanel_events"

_SPEC = (
    '{"event": "VARCHAR", "properties": {"time": "JSON", "distinct_id": "VARCHAR", '
    '"$device_id": "VARCHAR", "$user_id": "VARCHAR", "$insert_id": "VARCHAR", '
    '"mp_processing_time_ms": "DOUBLE"}}'
)
_IDENTITY_NULLS = (
    '{"distinct_id": null, "$user_id": null, "$device_id": null, '
    '"$distinct_id_before_identity": null}'
)

COLUMNS = (
    "event_name, event_at, distinct_id, device_id, user_id, insert_id, event_key, processed_at, "
    "properties"
)

# Rows sharing a key are copies of one event; duplicate_sql ranks them.
DEDUP_KEYS = [("event_key",)]
# Keep the copy Mixpanel processed first; file and line break the remaining ties.
DEDUP_ORDER = "processed_at nulls last, file, line_number"


def parse_sql() -> str:
    """SQL creating ``_parsed`` from ``_lines``: typed fields plus a ``reason`` for bad lines."""
    return f"""
    create or replace temp table _parsed as
    with rec as (
        select file, partition, line_number, line, try(from_json(line, '{_SPEC}')) as r
        from _lines
    ),
    typed as (
        select file, partition, line_number, line, r,
               r.event as event_name,
               r.properties.distinct_id as distinct_id,
               r.properties."$device_id" as device_id,
               r.properties."$user_id" as user_id,
               r.properties."$insert_id" as insert_id,
               json_type(r.properties.time) as time_type,
               case when json_type(r.properties.time) in ('BIGINT', 'UBIGINT', 'DOUBLE')
                    then r.properties.time::double end as time_number,
               case when r is not null then json_extract(line, '$.properties') end as properties,
               r.properties.mp_processing_time_ms as processing_ms
        from rec
    ),
    seconds as (
        -- properties.time is seconds; senders may give milliseconds (values above 1e11).
        select *, case when time_number > 1e11 then time_number / 1000 else time_number end as secs
        from typed
    ),
    checked as (
        select *,
            case
                when r is null then {validation.unparsed_reason("line")}
                when not starts_with(coalesce(properties::varchar, ''), '{{')
                    then 'not a Mixpanel event: expected {{"event": ..., "properties": {{...}}}}'
                when event_name is null then 'event name missing'
                when coalesce(distinct_id, device_id, user_id) is null
                    then 'no user identity: distinct_id, $device_id and $user_id are all missing'
                when time_type is null or time_type = 'NULL' then 'properties.time missing'
                when time_type = 'VARCHAR'
                    then 'properties.time is text (' || (r.properties.time ->> '$')
                         || '), expected a number of seconds'
                when secs is null then 'properties.time is not a number'
                {validation.time_reasons("secs")}
            end as reason
        from seconds
    )
    select file, partition, line_number, case when reason is not null then line end as line, reason,
           event_name,
           case when reason is null then make_timestamp((secs * 1e6)::bigint) end as event_at,
           distinct_id, device_id, user_id, insert_id,
           case when reason is null then md5(concat_ws(chr(31), event_name, (secs * 1e6)::bigint,
                coalesce(insert_id,
                         'props:' || md5(json_merge_patch(properties, '{_IDENTITY_NULLS}')::varchar))))
           end as event_key,
           case when processing_ms between 0 and 1e14 then make_timestamp((processing_ms * 1000)::bigint)
           end as processed_at,
           properties
    from checked
    """


def duplicate_sql() -> str:
    """A boolean SQL expression over ``_parsed``'s valid rows: true for every copy but the first."""
    return f"row_number() over (partition by partition, event_key order by {DEDUP_ORDER}) > 1"
