"""Amplitude export zips: member extraction, parsing, validation and de-duplication as DuckDB SQL.

An export zip holds gzip NDJSON files, one or more per upload hour. DuckDB cannot read inside a zip,
so members are inflated to a temporary folder (:mod:`sources.inflation`: CRC checked, the whole
zip within the inflation limits) and scanned from there.
De-duplication follows Amplitude and Fivetran (formats.md §4): one row per ``uuid``, then one per
``device_id`` + ``$insert_id``, keeping the copy uploaded last.
"""

from __future__ import annotations

import zipfile
from functools import partial
from pathlib import Path

from sources import inflation, validation
from sources.errors import UnreadableFileError
from sources.settings import IngestSettings

SOURCE = "amplitude"
TABLE = "raw.amplitude_events"

_TEXT_FIELDS = (
    "uuid event_type user_id device_id $insert_id platform os_name os_version device_family "
    "device_type country region city language library version_name client_event_time "
    "client_upload_time server_received_time server_upload_time processed_time"
).split()
# event_time stays JSON so a number there can be told apart from text; numbers stay JSON so that
# a wrong type fails one column, not the parse of the whole line.
_JSON_FIELDS = (
    "amplitude_id event_id session_id app paying event_time event_properties user_properties "
    "groups group_properties data"
).split()
_SPEC = (
    "{"
    + ", ".join(
        [f'"{f}": "VARCHAR"' for f in _TEXT_FIELDS] + [f'"{f}": "JSON"' for f in _JSON_FIELDS]
    )
    + "}"
)

COLUMNS = (
    "uuid, event_name, user_id, device_id, amplitude_id, insert_id, event_id, session_id, event_at, "
    "client_event_at, client_upload_at, server_received_at, server_upload_at, processed_at, "
    "event_key, event_properties, user_properties, groups, group_properties, data, app, platform, "
    "os_name, os_version, device_family, device_type, country, region, city, language, library, "
    "version_name, paying"
)

# Rows sharing a key are copies of one event; duplicate_sql ranks them.
DEDUP_KEYS = [("uuid",), ("device_id", "insert_id")]
DEDUP_ORDER = "client_upload_at desc nulls last, file, line_number"


def extract(
    zip_path: Path, name: str, folder: Path, settings: IngestSettings
) -> list[tuple[Path, str]]:
    """Inflate the members of an export zip into ``folder``; return (path, ledger name) pairs.

    An empty zip gives none. A member that is not NDJSON text (a zip, binary, corrupt gzip), or a
    zip inflating beyond the limits of ``settings``, fails with the member's ``zip/member`` name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    budget = inflation.Budget(name, zip_path.stat().st_size, settings)

    def unpack(info: zipfile.ZipInfo, target: Path, member: str) -> tuple[Path, str]:
        # A zip of its own per member: the members inflate side by side.
        with zipfile.ZipFile(zip_path) as archive, archive.open(info) as src:
            if info.filename.endswith(".gz"):
                inflation.inflate(src, target, member, budget)
            else:
                inflation.copy_plain(src, target, member, budget)
        return target, member

    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = sorted(
                (i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename
            )
        return inflation.run_all(
            [
                partial(unpack, info, folder / f"{index:05d}.json", f"{name}/{info.filename}")
                for index, info in enumerate(members)
            ]
        )
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFileError(f"cannot read the Amplitude export {zip_path}: {exc}") from exc


def _timestamp(field: str) -> str:
    """A text timestamp field as TIMESTAMP (space or T form), null when absent or unparseable."""
    return f"try_cast(r.{field} as timestamp)"


def _bigint(field: str) -> str:
    return f"try_cast(r.{field} ->> '$' as bigint)"


def parse_sql(settings: IngestSettings) -> tuple[str, dict[str, object]]:
    """SQL creating ``_parsed`` from ``_lines`` (typed columns plus a ``reason`` for bad lines),
    and its bound parameters. Amplitude's times are UTC already."""
    return (
        f"""
    create or replace temp table _parsed as
    with rec as (
        select file, partition, line_number, line, {validation.parsed_object("line", _SPEC)} as r
        from _lines
    ),
    typed as (
        select file, partition, line_number, line, r,
               r.uuid, r.event_type as event_name, r.user_id, r.device_id,
               {_bigint("amplitude_id")} as amplitude_id,
               r."$insert_id" as insert_id,
               {_bigint("event_id")} as event_id,
               {_bigint("session_id")} as session_id,
               json_type(r.event_time) as time_type,
               try_cast(r.event_time ->> '$' as timestamp) as event_at,
               {_timestamp("client_event_time")} as client_event_at,
               {_timestamp("client_upload_time")} as client_upload_at,
               {_timestamp("server_received_time")} as server_received_at,
               {_timestamp("server_upload_time")} as server_upload_at,
               {_timestamp("processed_time")} as processed_at,
               r.event_properties, r.user_properties, r.groups, r.group_properties, r.data,
               {_bigint("app")} as app,
               r.platform, r.os_name, r.os_version, r.device_family, r.device_type, r.country,
               r.region, r.city, r.language, r.library, r.version_name,
               try_cast(r.paying ->> '$' as boolean) as paying
        from rec
    ),
    checked as (
        select *,
            case
                when r is null then {validation.unparsed_reason("line")}
                when not starts_with(ltrim(line), '{{') then 'not an Amplitude event: expected a JSON object'
                when event_name is null then 'event_type missing'
                when coalesce(user_id, device_id, amplitude_id::varchar) is null
                    then 'no user identity: user_id, device_id and amplitude_id are all missing'
                when time_type is null or time_type = 'NULL' then 'event_time missing'
                when time_type <> 'VARCHAR'
                    then 'event_time is a ' || lower(time_type) || ' (' || r.event_time::varchar
                         || '), expected text like 2024-06-10 14:05:00.123000'
                when event_at is null
                    then 'event_time ''' || (r.event_time ->> '$') || ''' is not a timestamp'
                {validation.time_reasons("epoch(event_at)")}
            end as reason
        from typed
    )
    select file, partition, line_number, case when reason is not null then line end as line, reason,
           uuid, event_name, user_id, device_id, amplitude_id, insert_id, event_id, session_id,
           case when reason is null then event_at end as event_at,
           client_event_at, client_upload_at, server_received_at, server_upload_at, processed_at,
           case when reason is null then coalesce(
               uuid,
               case when insert_id is not null and device_id is not null
                    then md5(concat_ws(chr(31), 'insert', device_id, insert_id)) end,
               md5(concat_ws(chr(31), 'event', event_id, device_id, client_event_at, user_id,
                             event_name, event_at)))
           end as event_key,
           event_properties, user_properties, groups, group_properties, data, app, platform,
           os_name, os_version, device_family, device_type, country, region, city, language,
           library, version_name, paying
    from checked
    """,
        validation.parameters(settings.earliest_event),
    )


def duplicate_sql() -> str:
    """True for every copy but the kept one: per uuid, then per device_id + $insert_id."""
    return f"""(
        (uuid is not null
         and row_number() over (partition by partition, uuid order by {DEDUP_ORDER}) > 1)
        or (insert_id is not null and device_id is not null
            and row_number() over (
                partition by partition, device_id, insert_id order by {DEDUP_ORDER}) > 1)
    )"""
