"""All environment logic in one place: where the warehouse, the sync state and the exports live,
and what the loader needs to know about the data (the earliest event day, the Mixpanel project's
time zone).

Every setting is optional and has a working default for the embedded setup. Relative paths are
taken from the directory Recur is started in (the project root for `make` targets) and made
absolute here, so that dbt, which runs in ``dbt_project/``, sees the same files.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb

from reports.cohorts import GRAINS
from sources.errors import SettingError
from sources.settings import IngestSettings, parse_date
from syncs.engine import CONCURRENCY, MOST_CONCURRENCY
from syncs.settings import count_from_env, seconds_from_env

PROJECT_ROOT = Path(__file__).resolve().parents[1]

DEFAULTS = {
    "RECUR_WAREHOUSE": "data/warehouse.duckdb",
    "RECUR_STATE": "data/state.duckdb",
    "RECUR_EXPORTS": "data/exports",
}

# Credentials for pulling exports over HTTP; when they are absent the exports folder is used as is.
MIXPANEL_ENV = (
    "MIXPANEL_SERVICE_ACCOUNT_USERNAME",
    "MIXPANEL_SERVICE_ACCOUNT_SECRET",
    "MIXPANEL_PROJECT_ID",
)
AMPLITUDE_ENV = ("AMPLITUDE_API_KEY", "AMPLITUDE_SECRET_KEY")


def _path(name: str) -> Path:
    return Path(os.environ.get(name) or DEFAULTS[name]).expanduser().resolve()


#: Bytes 8-11 of every DuckDB database file.
DUCKDB_MAGIC = b"DUCK"


def _database_problem(path: Path) -> str | None:
    """Why DuckDB could not use ``path`` as its database file, or None."""
    if path.is_dir():
        return "is a folder, not a DuckDB file"
    if path.exists():
        if not path.is_file():
            return "is not a regular file"
        with path.open("rb") as f:
            head = f.read(12)
        if not head:
            return "is an empty file, not a DuckDB database (delete it and Recur creates one)"
        if head[8:12] != DUCKDB_MAGIC:
            return "is not a DuckDB database file"
        return None
    folder = next(p for p in path.parents if p.exists())
    if not folder.is_dir():
        return f"cannot be created: {folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot be created: the folder {folder} is not writable"
    return None


def _database_path(name: str) -> Path:
    path = _path(name)
    problem = _database_problem(path)
    if problem:
        raise SettingError(
            f"{name}={os.environ.get(name) or DEFAULTS[name]!r} ({path}) {problem}: set it to a "
            f"DuckDB file, new or existing (default {DEFAULTS[name]})"
        )
    return path


def warehouse_path() -> Path:
    """The DuckDB warehouse file (``RECUR_WAREHOUSE``): a DuckDB file, or a path where one can
    be created; anything else raises an error naming the variable."""
    return _database_path("RECUR_WAREHOUSE")


def state_path() -> Path:
    """The sync-state DuckDB file (``RECUR_STATE``), apart from the warehouse; checked as the
    warehouse is."""
    return _database_path("RECUR_STATE")


def exports_path() -> Path:
    """The export folder holding ``mixpanel/`` and ``amplitude/`` (``RECUR_EXPORTS``); a file
    there raises an error naming the variable (a missing folder is reported by the loader)."""
    path = _path("RECUR_EXPORTS")
    if path.exists() and not path.is_dir():
        raise SettingError(
            f"RECUR_EXPORTS={os.environ.get('RECUR_EXPORTS')!r} ({path}) is a file, not a folder: "
            "set it to the export folder holding mixpanel/ and amplitude/"
        )
    return path


def check() -> None:
    """Read every setting a run uses, so that a bad one stops the command before anything
    starts, with an error naming it."""
    warehouse_path(), state_path(), exports_path(), as_of(), sync_max_wait()
    duckdb_memory_limit(), engine()


ENGINES = ("duckdb", "spark")


def engine() -> str:
    """Where the dbt models run (``RECUR_ENGINE``): ``duckdb``, the embedded default, or
    ``spark`` (docs/spark.md). dbt's profile picks its target from the same variable."""
    value = (os.environ.get("RECUR_ENGINE") or "duckdb").strip().lower()
    if value not in ENGINES:
        raise SettingError(
            f"RECUR_ENGINE is {os.environ.get('RECUR_ENGINE')!r}: set it to duckdb (the default) "
            "or spark"
        )
    return value


def parquet_mirror_path() -> Path:
    """Where the raw tables are mirrored as Parquet for Spark (``RECUR_PARQUET_MIRROR``), else
    ``raw-parquet/`` beside the warehouse file."""
    configured = os.environ.get("RECUR_PARQUET_MIRROR")
    if configured:
        return Path(configured).expanduser().resolve()
    return warehouse_path().parent / "raw-parquet"


def spark_dir() -> Path:
    """The local Spark session's metastore and tables (``RECUR_SPARK_DIR``), else ``spark/``
    beside the warehouse file."""
    configured = os.environ.get("RECUR_SPARK_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    return warehouse_path().parent / "spark"


def reports_path() -> Path:
    """Where reports are written: ``reports/`` beside the warehouse file."""
    return warehouse_path().parent / "reports"


def report_grain() -> str:
    """The cohort grain of the report's heatmap and LTV curves (``RECUR_REPORT_GRAIN``): ``week``
    by default, ``day`` or ``month`` (never finer than the dbt var ``retention_unit``)."""
    grain = os.environ.get("RECUR_REPORT_GRAIN") or "week"
    if grain not in GRAINS:
        raise ValueError(f"RECUR_REPORT_GRAIN is {grain!r}: set it to day, week or month")
    return grain


def as_of() -> date | None:
    """The observation end (``RECUR_AS_OF``, a ``YYYY-MM-DD`` day), or None for the last event.

    Checked before dbt runs, so that a bad value stops the run with an error naming the variable
    and the accepted form (dbt's macro ``as_of_date`` refuses it too, for a direct `dbt build`).
    """
    raw = os.environ.get("RECUR_AS_OF") or ""
    return parse_date("RECUR_AS_OF", raw) if raw.strip() else None


def duckdb_memory_limit() -> str:
    """``RECUR_DUCKDB_MEMORY_LIMIT`` (default ``8GB``), DuckDB's memory cap in dbt's profile,
    checked by DuckDB's own parser (the value bound as a parameter, never pasted into SQL)."""
    raw = os.environ.get("RECUR_DUCKDB_MEMORY_LIMIT") or "8GB"
    try:
        with duckdb.connect() as con:
            con.execute("set memory_limit = ?", [raw])
    except duckdb.Error:
        raise SettingError(
            f"RECUR_DUCKDB_MEMORY_LIMIT={raw!r} is not an amount of memory (e.g. 8GB, 512MB or 50%)"
        ) from None
    return raw


def sync_max_wait() -> float:
    """``RECUR_SYNC_MAX_WAIT_SECONDS`` (default 120): how long one sync run may spend on a
    destination that does not answer (time-outs, 5xx and the pauses after them) before it
    gives up; the rows stay dirty for the next run."""
    return seconds_from_env("RECUR_SYNC_MAX_WAIT_SECONDS", 120.0)


def sync_concurrency() -> int:
    """``RECUR_SYNC_CONCURRENCY`` (default 16, at most 32): how many batches one sync keeps in
    flight at once, for destinations that take several (HubSpot)."""
    return count_from_env("RECUR_SYNC_CONCURRENCY", CONCURRENCY, MOST_CONCURRENCY)


def audience_files_path() -> Path:
    """Where file syncs write audiences: ``RECUR_AUDIENCE_FILES``, else ``audiences/`` beside
    the warehouse file."""
    configured = os.environ.get("RECUR_AUDIENCE_FILES")
    if configured:
        return Path(configured).expanduser().resolve()
    return warehouse_path().parent / "audiences"


def ingest_settings() -> IngestSettings:
    """``RECUR_EARLIEST_EVENT`` and ``RECUR_MIXPANEL_TIMEZONE``, validated (a bad value raises an
    error naming the variable). Read at each load, so a changed value needs no restart."""
    return IngestSettings.from_env(os.environ)


def has_env(names: tuple[str, ...]) -> bool:
    """True when every named variable is set (values are never read here)."""
    return all(os.environ.get(n) for n in names)


# Run-failure alerts: a Slack-compatible incoming webhook. Its URL is a secret (whoever holds it
# can post), so it is read by the alert client at the moment of sending, never stored or logged.
ALERT_WEBHOOK_ENV = "RECUR_ALERT_WEBHOOK_URL"


def webserver_url() -> str:
    """The Dagster UI's address for links in alerts (``DAGSTER_WEBSERVER_URL``), without a
    trailing slash; ``make dev`` serves it on http://127.0.0.1:3000."""
    return (os.environ.get("DAGSTER_WEBSERVER_URL") or "http://127.0.0.1:3000").rstrip("/")
