"""Dagster resources: thin configurable wrappers around the plain clients of our libraries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import environment
from orchestration.progress import progress_bar
from sources import layout
from sources.amplitude_api import AmplitudeExportClient
from sources.mixpanel_api import MixpanelExportClient
from sources.warehouse import connect, ensure_raw_schema
from syncs.engine import RetryPolicy, RunResult
from syncs.run import sync_files
from syncs.spec import SyncSpec


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file.

    A connection is opened per use and closed right after: DuckDB lets one process write a file at
    a time, and dbt runs in its own process between our steps.
    """

    path: str

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(self.path, read_only=read_only)
        try:
            if not read_only:
                ensure_raw_schema(con)
            yield con
        finally:
            con.close()


class ExportFolderResource(dg.ConfigurableResource):
    """The export folder (``RECUR_EXPORTS``) that ingestion reads and API pulls write into."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class ExportAPIResource(dg.ConfigurableResource):
    """A vendor's Export API, used when its credentials are in the environment.

    Credentials are read from the environment by the client itself (``from_env``) at the moment of
    the call, so they never pass through Dagster's run config, logs or metadata.
    """

    source: str  # "mixpanel" or "amplitude"

    @property
    def enabled(self) -> bool:
        if self.source == layout.MIXPANEL:
            return environment.has_env(environment.MIXPANEL_ENV) or environment.has_env(
                ("MIXPANEL_API_SECRET",)
            )
        return environment.has_env(environment.AMPLITUDE_ENV)

    def download_day(self, day: date, exports: Path) -> Path | None:
        """Download one export day into the export folder; None when the vendor has no data."""
        if self.source == layout.MIXPANEL:
            # Days end at midnight in the project's time zone (RECUR_MIXPANEL_TIMEZONE).
            today = environment.ingest_settings().mixpanel_today
            with MixpanelExportClient.from_env(today=today) as client:
                return client.download_day(day, exports)
        with AmplitudeExportClient.from_env() as client:
            return client.download_day(day, exports)

    def download_profiles(self, exports: Path) -> list[Path]:
        """Download Mixpanel's Engage profiles into the export folder."""
        with MixpanelExportClient.from_env() as client:
            return client.download_profiles(exports)


class SyncResource(dg.ConfigurableResource):
    """The reverse-ETL engine: the warehouse to read audiences from, the sync state file, and
    where file syncs write. Destination credentials are read from the environment by the
    destinations themselves, at the moment of the run, never through Dagster's config."""

    warehouse: str
    state: str
    files_dir: str

    @property
    def state_path(self) -> Path:
        return Path(self.state)

    def run(self, spec: SyncSpec, *, dry_run: bool = False) -> RunResult:
        return sync_files(
            spec,
            warehouse=Path(self.warehouse),
            state=Path(self.state),
            files_dir=Path(self.files_dir),
            dry_run=dry_run,
            policy=RetryPolicy(max_wait=environment.sync_max_wait()),
            concurrency=environment.sync_concurrency(),
            progress=None if dry_run else progress_bar(f"syncing {spec.name}", unit="row"),
        )
