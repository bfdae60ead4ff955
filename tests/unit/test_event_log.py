"""The event log that keeps its SQLite connections open (orchestration/event_log.py): what it
writes is what Dagster's own storage, in another process such as the webserver, reads; a watcher
of a run sees each event while the connection stays open; wiped files are not written through a
stale connection."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from orchestration.event_log import RUN_FILES_KEPT, KeptOpenSqliteEventLogStorage

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def message(run_id: str, text: str) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level="INFO",
        user_message=text,
        run_id=run_id,
        timestamp=time.time(),
    )


def texts(storage: SqliteEventLogStorage, run_id: str) -> list[str]:
    return [
        r.event_log_entry.user_message
        for r in storage.get_records_for_run(run_id, limit=1000).records
    ]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME holding the repository's dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@dg.asset
def orders() -> int:
    return 3


@dg.asset
def customers(orders: int) -> int:
    return orders * 2


@dg.asset_check(asset=customers)
def customers_counted(customers: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=customers == 6, metadata={"customers": customers})


def test_the_repositorys_instance_keeps_its_runs_where_dagster_would(home):
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, KeptOpenSqliteEventLogStorage)
        assert Path(storage._base_dir) == home / "history" / "runs"  # Dagster's default place
        result = dg.materialize([orders, customers, customers_counted], instance=instance)
        assert result.success
        run_id = result.run_id
        ours = storage.get_records_for_run(run_id, limit=1000).records
    # Dagster's own storage, as the webserver opens it, reads the same run and the same index.
    theirs = SqliteEventLogStorage(str(home / "history" / "runs"))
    records = theirs.get_records_for_run(run_id, limit=1000).records
    assert [r.event_log_entry.dagster_event_type for r in records] == [
        r.event_log_entry.dagster_event_type for r in ours
    ]
    assert len(records) == len(ours) > 10
    materialized = theirs.get_latest_materialization_events([dg.AssetKey("customers")])
    assert materialized[dg.AssetKey("customers")].run_id == run_id
    check = theirs.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("customers"), "customers_counted")]
    )
    (execution,) = check.values()
    assert execution.run_id == run_id and execution.status.value == "SUCCEEDED"


def test_a_watcher_sees_every_event_while_the_connection_stays_open(tmp_path):
    base = str(tmp_path / "runs")
    writer = KeptOpenSqliteEventLogStorage(base)
    reader = SqliteEventLogStorage(base)  # another process's view: it watches the run's file
    seen: list[str] = []
    arrived = threading.Event()

    def on_event(entry: EventLogEntry, cursor: str) -> None:
        seen.append(entry.user_message)
        if len(seen) == 5:
            arrived.set()

    writer.store_event(message("r1", "event 0"))  # the run's file exists before the watch
    reader.watch("r1", None, on_event)
    try:
        for i in range(1, 5):
            time.sleep(0.3)  # one change of the file per event, as a run writes them
            writer.store_event(message("r1", f"event {i}"))
        assert arrived.wait(15), f"the watcher saw {seen}"
    finally:
        reader.end_watch("r1", on_event)
        reader.dispose()
    assert seen == [f"event {i}" for i in range(5)]


def test_connections_are_kept_for_the_latest_runs_and_never_outlive_a_wipe(tmp_path):
    base = str(tmp_path / "runs")
    storage = KeptOpenSqliteEventLogStorage(base)
    for run in range(RUN_FILES_KEPT + 3):
        storage.store_event(message(f"r{run}", "first"))
    kept = [name for name in storage._engines if name != "index"]
    assert kept == [f"r{run}" for run in range(3, RUN_FILES_KEPT + 3)]
    storage.store_event(message("r0", "again"))  # a closed run's file opens again
    assert texts(storage, "r0") == ["first", "again"]

    storage.wipe()
    storage.store_event(message("r5", "after the wipe"))
    # Written to the new file, not through a connection to the deleted one.
    assert texts(SqliteEventLogStorage(base), "r5") == ["after the wipe"]
