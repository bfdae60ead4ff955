"""Settings from the environment are parsed where they are read (issue 13, items 3 and 11): a
bad value stops the command with an error that names the variable and the accepted form."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from orchestration import environment
from sources.errors import SettingError


@pytest.mark.parametrize(
    "value",
    [
        "2026-13-01",
        "2026-02-30",
        "2026-02-14 12:00:00",
        "2026-02-14T00:00",
        "14/02/2026",
        "2026-02-14' as date) --",
        "yesterday",
    ],
)
def test_recur_as_of_must_be_a_day(monkeypatch, value):
    monkeypatch.setenv("RECUR_AS_OF", value)
    with pytest.raises(SettingError, match=r"RECUR_AS_OF=.* is not a date \(YYYY-MM-DD"):
        environment.as_of()


def test_recur_as_of_is_a_day_or_unset(monkeypatch):
    monkeypatch.setenv("RECUR_AS_OF", "2024-02-29")
    assert environment.as_of() == date(2024, 2, 29)
    monkeypatch.setenv("RECUR_AS_OF", "")
    assert environment.as_of() is None


def bad_paths(tmp_path):
    """Each bad path setting: (variable, value)."""
    (tmp_path / "folder.duckdb").mkdir()
    (tmp_path / "notes.duckdb").write_text("not a database\n")
    (tmp_path / "empty.duckdb").write_bytes(b"")
    (tmp_path / "a-file").write_text("x")
    return {
        "folder": ("RECUR_WAREHOUSE", tmp_path / "folder.duckdb", "is a folder"),
        "text file": ("RECUR_WAREHOUSE", tmp_path / "notes.duckdb", "is not a DuckDB database"),
        "empty file": ("RECUR_WAREHOUSE", tmp_path / "empty.duckdb", "is an empty file"),
        "unwritable": ("RECUR_WAREHOUSE", tmp_path / "a-file" / "wh.duckdb", "cannot be created"),
        "state folder": ("RECUR_STATE", tmp_path / "folder.duckdb", "is a folder"),
        "exports file": ("RECUR_EXPORTS", tmp_path / "a-file", "is a file, not a folder"),
    }


@pytest.mark.parametrize(
    "case", ["folder", "text file", "empty file", "unwritable", "state folder", "exports file"]
)
@pytest.mark.parametrize("command", ["run", "sync"])
def test_a_bad_path_setting_stops_recur_with_one_line_naming_it(
    tmp_path, monkeypatch, capsys, case, command
):
    from orchestration.cli import main

    exports = tmp_path / "exports" / "mixpanel"
    exports.mkdir(parents=True)
    monkeypatch.setenv("RECUR_EXPORTS", str(exports.parent))
    monkeypatch.setenv("RECUR_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    monkeypatch.setenv("RECUR_STATE", str(tmp_path / "state.duckdb"))
    name, value, problem = bad_paths(tmp_path)[case]
    monkeypatch.setenv(name, str(value))
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"recur {command}: {name}=") and problem in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_failed_step_prints_its_own_error_first_then_the_detail():
    from dagster_shared.error import SerializableErrorInfo

    from orchestration.runner import failure_lines

    own = SerializableErrorInfo(
        'duckdb.duckdb.IOException: IO Error: Could not set lock on file "wh.duckdb"\n'
        "See also https://duckdb.org/docs/connect/concurrency\n",
        [],
        "IOException",
    )
    wrapper = SerializableErrorInfo(
        'Error occurred while executing op "syncs__aud_x":\n',
        [],
        "DagsterExecutionStepExecutionError",
        own,
    )
    assert failure_lines("syncs__aud_x", wrapper) == [
        '    syncs__aud_x: IOException: IO Error: Could not set lock on file "wh.duckdb"',
        "        See also https://duckdb.org/docs/connect/concurrency",
    ]


def test_the_duckdb_memory_limit_is_checked_by_duckdb_and_named(monkeypatch):
    monkeypatch.setenv("RECUR_DUCKDB_MEMORY_LIMIT", "4GB'; drop table x; --")
    with pytest.raises(SettingError, match="RECUR_DUCKDB_MEMORY_LIMIT=.* is not an amount"):
        environment.duckdb_memory_limit()
    monkeypatch.setenv("RECUR_DUCKDB_MEMORY_LIMIT", "512MB")
    assert environment.duckdb_memory_limit() == "512MB"


def test_every_warehouse_connection_takes_the_duckdb_memory_limit(monkeypatch, tmp_path):
    """The loader, checks and syncs open the warehouse through sources.warehouse.connect: the same
    cap as dbt's profile, not DuckDB's default of 80% of the machine's memory."""
    from checks.suite import _reader
    from sources.warehouse import connect

    monkeypatch.setenv("RECUR_DUCKDB_MEMORY_LIMIT", "512MB")
    path = tmp_path / "wh.duckdb"
    with connect(path) as con:
        assert con.execute("select current_setting('memory_limit')").fetchall() == [("488.2 MiB",)]
    with _reader(path) as read:
        assert read("select current_setting('memory_limit') as m")["m"].tolist() == ["488.2 MiB"]
    monkeypatch.delenv("RECUR_DUCKDB_MEMORY_LIMIT")
    with connect(path, read_only=True) as con:
        assert con.execute("select current_setting('memory_limit')").fetchall() == [("7.4 GiB",)]


@pytest.mark.parametrize(
    "value, engine", [(None, "duckdb"), ("DuckDB", "duckdb"), (" spark", "spark")]
)
def test_the_engine_is_duckdb_or_spark(monkeypatch, value, engine):
    if value is None:
        monkeypatch.delenv("RECUR_ENGINE", raising=False)
    else:
        monkeypatch.setenv("RECUR_ENGINE", value)
    assert environment.engine() == engine


def test_another_engine_stops_recur_naming_the_setting(monkeypatch):
    monkeypatch.setenv("RECUR_ENGINE", "postgres")
    with pytest.raises(SettingError, match=r"RECUR_ENGINE is 'postgres': set it to duckdb"):
        environment.check()


def test_spark_folders_default_beside_the_warehouse(monkeypatch, tmp_path):
    monkeypatch.setenv("RECUR_WAREHOUSE", str(tmp_path / "w" / "warehouse.duckdb"))
    monkeypatch.delenv("RECUR_PARQUET_MIRROR", raising=False)
    monkeypatch.setenv("RECUR_SPARK_DIR", "relative/spark")
    assert environment.parquet_mirror_path() == tmp_path / "w" / "raw-parquet"
    assert environment.spark_dir() == Path.cwd() / "relative" / "spark"
