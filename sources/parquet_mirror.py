"""A Parquet copy of the DuckDB ``raw`` schema, for engines that cannot open a DuckDB file (Spark).

Each raw table becomes a folder of Parquet files under the mirror root, Hive-partitioned by its
source and/or export day (``load_ledger/source=mixpanel/partition=2026-01-01/data_0.parquet``), so
Spark reads it with ``parquet.`<root>/<table>``` and prunes by day: on the dbt ``spark`` target
the raw sources and ``load_ledger()`` name those folders (models/staging/_raw__sources.yml,
macros/reloads.sql, with the root from RECUR_PARQUET_MIRROR).

The mirror is written whole, per table, into a fresh folder that then replaces the old one, so a
reader never sees half a table; it is a snapshot of what the loader committed (same rows, same
ledger), not a second loader. JSON columns are written as text (Spark reads JSON as strings).
A table with no rows still gets one empty file (in a placeholder partition when partitioned), so
its columns and types are known to Spark.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

# raw table -> its partition columns (Hive folders, outermost first).
TABLES: dict[str, tuple[str, ...]] = {
    "mixpanel_events": ("partition",),
    "amplitude_events": ("partition",),
    "mixpanel_profiles": (),
    "load_ledger": ("source", "partition"),
    "quarantine": ("source", "partition"),
    "audience_deliveries": (),
}

# Placeholder folder values for an empty partitioned table (typed as Spark infers them).
_EMPTY_PARTITION = {"partition": "1970-01-01", "source": "none"}


@dataclass(frozen=True)
class MirroredTable:
    table: str
    rows: int
    files: int
    path: Path


def _select(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The table's columns, JSON ones cast to text."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    if not columns:
        raise LookupError(f"raw.{table} does not exist in the warehouse")
    parts = [
        f'cast("{name}" as varchar) as "{name}"' if kind.upper() == "JSON" else f'"{name}"'
        for name, kind in columns
    ]
    return f"select {', '.join(parts)} from raw.{table}"


def _quote_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def mirror_table(con: duckdb.DuckDBPyConnection, table: str, root: Path) -> MirroredTable:
    partitions = TABLES[table]
    final = root / table
    fresh = root / f".{table}.writing"
    shutil.rmtree(fresh, ignore_errors=True)
    query = _select(con, table)
    rows = con.execute(f"select count(*) from ({query})").fetchall()[0][0]
    if rows and partitions:
        cols = ", ".join(f'"{c}"' for c in partitions)
        con.execute(
            f"copy ({query}) to {_quote_path(fresh)} "
            f"(format parquet, partition_by ({cols}), overwrite_or_ignore true)"
        )
    else:
        folder = fresh
        if partitions:  # empty: one file, its types, in a placeholder partition
            for column in partitions:
                folder = folder / f"{column}={_EMPTY_PARTITION[column]}"
            query = f"select * exclude ({', '.join(partitions)}) from ({query})"
        folder.mkdir(parents=True, exist_ok=True)
        con.execute(f"copy ({query}) to {_quote_path(folder / 'data_0.parquet')} (format parquet)")
    old = root / f".{table}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    fresh.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    files = sum(1 for _ in final.rglob("*.parquet"))
    return MirroredTable(table=table, rows=rows, files=files, path=final)


def mirror(warehouse: Path, root: Path, tables: list[str] | None = None) -> list[MirroredTable]:
    """Write the raw tables of the warehouse file as Parquet under ``root`` (read-only on the
    warehouse; tables missing from it are skipped)."""
    root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        present = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
        return [
            mirror_table(con, table, root) for table in (tables or list(TABLES)) if table in present
        ]


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--warehouse", default=os.environ.get("RECUR_WAREHOUSE", "data/warehouse.duckdb")
    )
    parser.add_argument("--out", default=os.environ.get("RECUR_PARQUET_MIRROR", "data/raw-parquet"))
    args = parser.parse_args(argv)
    for done in mirror(Path(args.warehouse), Path(args.out)):
        print(f"raw.{done.table}: {done.rows:,} rows in {done.files} files -> {done.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
