"""Mixpanel raw-export lines: parsing, validation and the de-duplication rule, as DuckDB SQL.

Each line is parsed once with ``from_json`` into the few typed fields we need; the whole property bag
is kept as JSON.

**Time.** ``properties.time`` is Unix seconds (milliseconds when above 1e11). Projects created
after 2023-01-01 store it in UTC; older projects store the project's local wall-clock time
(formats.md §Time). With ``IngestSettings.mixpanel_timezone`` (``RECUR_MIXPANEL_TIMEZONE``) set,
the seconds are read as a wall-clock time in that zone and converted to UTC on load; ``event_at``
and every rule on time (the earliest accepted day, the future tolerance) use the UTC time. The
export day (the file's name, the ``partition`` column) stays the project-local day Mixpanel
exported: its end, for the future tolerance, is the local midnight after it, in UTC. Wall-clock
times around a DST change are converted by DuckDB's ICU, and none is dropped: a time in the hour
skipped in spring (02:30 on 2021-03-14 in Los Angeles) is read with the offset before the change
(-8, so 10:30 UTC, the same instant as 03:30 PDT); a time in the hour repeated in autumn (01:30 on
2021-11-07) is read as its second occurrence, in standard time (09:30 UTC).

**Duplicates.** Mixpanel's own rule treats events with the same event, distinct_id, time and
``$insert_id`` as one. ``distinct_id`` changes when a day is re-exported after an ID merge, so the
key here is event, time and ``$insert_id`` (formats.md §1). An event without ``$insert_id`` falls
back to event, time, the properties without the identity fields, and the person: ``$device_id``
and ``$user_id`` (both as sent, so both survive an ID merge), or ``distinct_id`` when the event
has neither. Events of two people are never copies of each other, even when they match in
everything else. The trade-off: an event that carries only ``distinct_id`` and no ``$insert_id``
is not recognised as a copy of itself when an ID merge changed its ``distinct_id`` and both
exports of its day are loaded side by side (a re-export that replaces the day's file replaces its
rows, so this needs two files of one day). Two people sharing one device and no ``$user_id`` who
fire the same event with the same properties in the same second are still one event.
"""

from __future__ import annotations

from sources import validation
from sources.settings import UTC, IngestSettings

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


# The time zone reaches the SQL as this bound parameter, never as text.
_TIMEZONE = "$timezone"
# Seconds DuckDB turns into timestamps (years 68 to 9892); others are quarantined unconverted.
_CONVERTIBLE = "between -6e10 and 2.5e11"
# The person in the fallback key: identity fields that an ID merge does not rewrite, else
# distinct_id (see the module's docstring).
_PERSON = (
    "case when device_id is not null or user_id is not null "
    "then concat_ws(chr(31), 'device', coalesce(device_id, ''), 'user', coalesce(user_id, '')) "
    "else concat_ws(chr(31), 'distinct', distinct_id) end"
)


def parse_sql(settings: IngestSettings) -> tuple[str, dict[str, object]]:
    """SQL creating ``_parsed`` from ``_lines`` (typed fields plus a ``reason`` for bad lines),
    and its bound parameters."""
    params = validation.parameters(settings.earliest_event)
    if settings.mixpanel_timezone == UTC:
        utc_secs, export_end = "secs", "(partition + interval 1 day)"
    else:
        params[_TIMEZONE[1:]] = settings.mixpanel_timezone
        # A naive timestamp read as wall-clock time in the zone (timestamptz), then as UTC.
        utc_secs = (
            f"case when secs {_CONVERTIBLE} then epoch_us(timezone('UTC', timezone({_TIMEZONE}, "
            "make_timestamp((secs * 1e6)::bigint)))) / 1e6 else secs end"
        )
        export_end = f"timezone('UTC', timezone({_TIMEZONE}, partition + interval 1 day))"
    return (
        f"""
    create or replace temp table _parsed as
    with rec as (
        select file, partition, line_number, line, {validation.parsed_object("line", _SPEC)} as r
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
    utc as (
        -- Local wall-clock seconds of a project time zone, converted to UTC seconds.
        select *, {utc_secs} as utc_secs from seconds
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
                {validation.time_reasons("utc_secs", export_end)}
            end as reason
        from utc
    )
    select file, partition, line_number, case when reason is not null then line end as line, reason,
           event_name,
           case when reason is null then make_timestamp((utc_secs * 1e6)::bigint) end as event_at,
           distinct_id, device_id, user_id, insert_id,
           case when reason is null then md5(concat_ws(chr(31), event_name, (secs * 1e6)::bigint,
                coalesce(insert_id,
                         'props:' || md5(concat_ws(chr(31),
                             json_merge_patch(properties, '{_IDENTITY_NULLS}')::varchar,
                             {_PERSON})))))
           end as event_key,
           case when processing_ms between 0 and 1e14 then make_timestamp((processing_ms * 1000)::bigint)
           end as processed_at,
           properties
    from checked
    """,
        params,
    )


def duplicate_sql() -> str:
    """A boolean SQL expression over ``_parsed``'s valid rows: true for every copy but the first."""
    return f"row_number() over (partition by partition, event_key order by {DEDUP_ORDER}) > 1"
