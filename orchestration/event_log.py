"""Dagster's SQLite event log with its connections kept open (`.dagster_home/dagster.yaml`).

Dagster's `SqliteEventLogStorage` creates a SQLAlchemy engine and opens a SQLite connection for
every event it stores, and closes both after: a `recur run` of ingest and the core models stores
about 720 events (a dbt test is three), which took 5-8 s of the run here. Most of that is the
opening, SQLAlchemy compiling the insert again for each new engine, and the closing, which
checkpoints the write-ahead log. This storage keeps one engine with one open connection per
database file (the index and the few latest runs' files), so each statement is compiled once.

Everything else is Dagster's: the same files, tables and migrations, so Dagster's own storage
(another process, the webserver, a later version of this file) reads what this one wrote. After a
write to a run's own file the connection checkpoints it, as closing it did: the webserver follows
a running run by watching that file change.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import Field
from dagster._config import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

#: Engines kept open besides the index's: a run writes its own file, the webserver reads a few.
RUN_FILES_KEPT = 4


def default_base_dir() -> str:
    """Where Dagster's default SQLite storage keeps the event logs: ``$DAGSTER_HOME/history/runs``."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise ValueError("set DAGSTER_HOME, or give the event log storage a base_dir")
    return _event_logs_directory(home)


class KeptOpenSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with one open connection per database file, for the process."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()  # Dagster's __init__ connects
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> KeptOpenSqliteEventLogStorage:
        return cls(config_value.get("base_dir") or default_base_dir(), inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:  # one thread at a time, as in Dagster's: the connection is shared
            engine = self._engine(shard)
            with engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                changes = raw.total_changes
                with conn.begin():
                    yield conn
                if shard != INDEX_SHARD_NAME and raw.total_changes != changes:
                    conn.exec_driver_sql("pragma wal_checkpoint(passive)")

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=StaticPool,  # one connection, kept; used under the storage's lock
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        runs = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in runs[: max(len(runs) - RUN_FILES_KEPT, 0)]:
            self._engines.pop(name).dispose()
        return engine

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # the run files are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()
