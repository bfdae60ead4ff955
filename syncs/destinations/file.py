"""Audience files for tools that pick up files: one CSV or Parquet file per sync.

A snapshot destination: whenever anything changed, the whole audience is written to a
temporary file beside the target and renamed over it (``os.replace`` is atomic on one file
system), so a reader never sees half a file. Values keep their warehouse types in Parquet.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from syncs.destinations.base import Capabilities, Destination, FieldInfo, Row
from syncs.errors import SyncConfigError
from syncs.spec import SyncSpec

FORMATS = ("csv", "parquet")


class FileDestination(Destination):
    """Writes ``<directory>/<audience>.<format>`` (``format`` from the sync, default csv)."""

    name = "file"
    capabilities = Capabilities(batch_size=1_000_000, snapshot=True)

    def __init__(self, directory: Path | str) -> None:
        super().__init__()
        self.directory = Path(directory)
        self._fields: tuple[FieldInfo, ...] = ()

    def path(self, spec: SyncSpec) -> Path:
        fmt = spec.format or "csv"
        if fmt not in FORMATS:
            raise SyncConfigError(f"{spec.name}: format {fmt!r} is not one of {FORMATS}")
        return self.directory / f"{spec.audience}.{fmt}"

    def open(self, spec: SyncSpec, fields: Sequence[FieldInfo]) -> None:
        self.path(spec)  # validate the format before anything is written
        self._fields = tuple(fields)
        self.directory.mkdir(parents=True, exist_ok=True)

    def write_snapshot(self, spec: SyncSpec, rows: Sequence[Row]) -> None:
        target = self.path(spec)
        frame = pd.DataFrame(
            {f.name: [row.values[f.name] for row in rows] for f in self._fields}, dtype="string"
        )
        # Back to the warehouse types; "" was NULL.
        casts = ", ".join(
            f'cast(nullif("{f.name}", \'\') as {f.sql_type}) as "{f.name}"' for f in self._fields
        )
        options = "(format parquet)" if target.suffix == ".parquet" else "(format csv, header)"
        tmp = target.with_name(f".{target.name}.tmp")
        con = duckdb.connect()
        try:
            con.register("snapshot", frame)
            con.execute(f"copy (select {casts} from snapshot) to '{tmp}' {options}")
        finally:
            con.close()
        os.replace(tmp, target)
        self.stats.count(200, write=True)
