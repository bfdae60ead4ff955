"""Audience files for tools that pick up files: one CSV or Parquet file per sync.

A snapshot destination: whenever anything changed, the whole audience is written to a
temporary file beside the target and renamed over it (``os.replace`` is atomic on one file
system), so a reader never sees half a file. Values keep their warehouse types in Parquet.

CSV files are opened by people in spreadsheets, and audience values come from browsers (event
properties), so text cells are made inert there (OWASP's rule against CSV injection): a cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, which
spreadsheets read as "this is text", and NUL bytes are dropped. Parquet keeps every value exact.
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

#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_csv_text(values: pd.Series) -> pd.Series:
    r"""``values`` (text) as CSV text cells no spreadsheet runs: NUL bytes dropped, then a ``'``
    before a leading formula character.

    >>> inert_csv_text(pd.Series(['=HYPERLINK("http://evil.example/","Refund")', "Ada", "a-b",
    ...     "-1", "", "\x00=1"], dtype="string")).tolist()
    ['\'=HYPERLINK("http://evil.example/","Refund")', 'Ada', 'a-b', "'-1", '', "'=1"]
    """
    values = values.str.replace("\x00", "", regex=False)
    return values.mask(values.str.startswith(FORMULA_STARTS, na=False), "'" + values)


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
        csv = target.suffix == ".csv"
        frame = pd.DataFrame(
            {f.name: [row.values[f.name] for row in rows] for f in self._fields}, dtype="string"
        )
        if csv:
            for f in self._fields:
                if f.kind == "string":
                    frame[f.name] = inert_csv_text(frame[f.name])
        # Back to the warehouse types ("" was NULL); text in a CSV stays the inert text above.
        casts = ", ".join(
            f"cast(nullif(\"{f.name}\", '') as "
            f'{"varchar" if csv and f.kind == "string" else f.sql_type}) as "{f.name}"'
            for f in self._fields
        )
        tmp = target.with_name(f".{target.name}.tmp")
        con = duckdb.connect()
        try:
            con.register("snapshot", frame)
            relation = con.sql(f"select {casts} from snapshot")
            # The path is passed as a value, never pasted into SQL (it comes from the environment).
            if csv:
                relation.write_csv(str(tmp), header=True)
            else:
                relation.write_parquet(str(tmp))
        finally:
            con.close()
        os.replace(tmp, target)
        self.stats.count(200, write=True)
