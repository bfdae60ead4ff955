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

from reports.cohorts import GRAINS
from sources.settings import IngestSettings, parse_date

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


def warehouse_path() -> Path:
    """The DuckDB warehouse file (``RECUR_WAREHOUSE``)."""
    return _path("RECUR_WAREHOUSE")


def state_path() -> Path:
    """The sync-state DuckDB file (``RECUR_STATE``), apart from the warehouse."""
    return _path("RECUR_STATE")


def exports_path() -> Path:
    """The export folder holding ``mixpanel/`` and ``amplitude/`` (``RECUR_EXPORTS``)."""
    return _path("RECUR_EXPORTS")


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
