"""The DuckDB warehouse file: connections and the ``raw`` schema that ingestion owns.

Connections are opened and closed around each unit of work (``with connect(path) as con``): a DuckDB
file admits one writing process at a time, so nothing in Recur holds a connection open between steps.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

RAW_DDL = """
create schema if not exists raw;

create table if not exists raw.mixpanel_events (
    event_name varchar not null,
    event_at timestamp not null,          -- UTC, from properties.time (seconds, or ms when > 1e11)
    distinct_id varchar,                  -- canonical at export time; changes after ID merges
    device_id varchar,
    user_id varchar,
    insert_id varchar,
    event_key varchar not null,           -- de-duplication key: event, time and $insert_id (or a hash)
    processed_at timestamp,               -- mp_processing_time_ms
    properties json not null using compression zstd,  -- the whole property bag as exported
    partition date not null,              -- export day
    source_file varchar not null,
    line_number bigint not null,
    loaded_at timestamp not null
);

create table if not exists raw.amplitude_events (
    uuid varchar,
    event_name varchar not null,
    user_id varchar,
    device_id varchar,
    amplitude_id bigint,
    insert_id varchar,
    event_id bigint,
    session_id bigint,
    event_at timestamp not null,          -- event_time, UTC
    client_event_at timestamp,
    client_upload_at timestamp,
    server_received_at timestamp,
    server_upload_at timestamp,
    processed_at timestamp,
    event_key varchar not null,           -- uuid, or device_id + $insert_id, or a hash
    event_properties json using compression zstd,
    user_properties json using compression zstd,
    groups json using compression zstd,
    group_properties json using compression zstd,
    data json using compression zstd,
    app bigint,
    platform varchar,
    os_name varchar,
    os_version varchar,
    device_family varchar,
    device_type varchar,
    country varchar,
    region varchar,
    city varchar,
    language varchar,
    library varchar,
    version_name varchar,
    paying boolean,
    partition date not null,              -- export day (the day of server_upload_time)
    source_file varchar not null,
    line_number bigint not null,
    loaded_at timestamp not null
);

create table if not exists raw.mixpanel_profiles (
    distinct_id varchar not null,
    email varchar,
    first_name varchar,
    last_name varchar,
    city varchar,
    region varchar,
    country_code varchar,
    created_at timestamp,
    last_seen_at timestamp,
    properties json not null,
    source_file varchar not null,
    loaded_at timestamp not null
);

create table if not exists raw.quarantine (
    source varchar not null,
    file varchar not null,
    line_number bigint not null,
    raw varchar,
    reason varchar not null,
    partition date,
    quarantined_at timestamp not null
);

create table if not exists raw.load_ledger (
    source varchar not null,
    file varchar not null,
    partition date,
    lines_read bigint not null,
    loaded bigint not null,
    duplicates bigint not null,
    quarantined bigint not null,
    loaded_at timestamp not null,
    export_file varchar not null,         -- the file on disk (a zip for Amplitude members)
    fingerprint varchar not null          -- sha256 of export_file (+ non-default ingest settings): unchanged files are skipped
);

-- The sha256 of each export file with its status when hashed (sources/loader.py, hashes): a file
-- whose inode, size, modification and change times are as recorded is not read again to tell
-- whether its day changed.
create table if not exists raw.file_hashes (
    path varchar primary key,             -- absolute path of the export file
    inode ubigint not null,
    size ubigint not null,
    mtime_ns bigint not null,
    ctime_ns bigint not null,
    sha256 varchar not null
);

-- Copied from the sync state file after syncs (syncs/history.py): one row per person and event.
create table if not exists raw.audience_deliveries (
    run_id varchar not null,
    sync varchar not null,
    audience varchar not null,
    destination varchar not null,
    key varchar,                          -- the match key as sent (e.g. the lower-cased email)
    person_id varchar,                    -- the audience's user_id (the key when it has none)
    event varchar not null,               -- entered | sent | held_out | capped | refused | exited
    operation varchar,                    -- the sync's operation (add, change, list_add, ...)
    held_out boolean not null,            -- the person is in the sync's holdout
    reason varchar,                       -- why refused or capped
    event_at timestamp not null,          -- when the sync recorded it (UTC, the wall clock)
    copied_at timestamp not null
);
"""


def connect(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (creating its folder) with UTC as the session time zone.

    Example:
        >>> with connect(":memory:") as con:
        ...     con.sql("select current_setting('TimeZone')").fetchone()[0]
        'UTC'
    """
    if str(path) != ":memory:" and not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    # Naive timestamps everywhere are UTC; this keeps casts of TIMESTAMPTZ from shifting them.
    con.execute("set TimeZone = 'UTC'")
    # One memory cap for every DuckDB Recur opens on the warehouse, dbt's included (profiles.yml
    # reads the same variable): beyond it DuckDB spills to disk instead of taking 80% of the RAM.
    con.execute("set memory_limit = ?", [os.environ.get("RECUR_DUCKDB_MEMORY_LIMIT") or "8GB"])
    return con


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``raw`` schema and its tables if they do not exist yet."""
    con.execute(RAW_DDL)
