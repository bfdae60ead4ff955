"""Dagster resources: thin configurable wrappers around the plain clients of our libraries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from sources.warehouse import connect, ensure_raw_schema


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
