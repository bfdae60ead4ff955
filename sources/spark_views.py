"""The models Spark built, as views in the DuckDB warehouse, for Recur's Python readers.

On the Spark engine (docs/spark.md) dbt writes every table model as Parquet files under Spark's
warehouse folder (``<RECUR_SPARK_DIR>/warehouse/<schema>.db/<table>``). The quality suites,
the syncs' audience reads, the report and the run's row counts read the models through DuckDB;
after each Spark build, ``publish`` points a view of the same name at each table's files
(``core.fct_events`` reads ``.../core.db/fct_events``), so those readers work unchanged and read
what Spark wrote, never a stale copy. A DuckDB table of the same name (from an earlier build on
the DuckDB engine) is replaced by the view; the raw tables are never touched.

The files must be readable by DuckDB: a local session's folder, or a shared file system.
"""

from __future__ import annotations

from pathlib import Path

from sources.warehouse import connect

# The schemas dbt builds into (dbt_project.yml); raw.* belongs to the loader.
MODEL_SCHEMAS = ("seeds", "staging", "intermediate", "core", "analytics", "audiences")


def spark_tables(spark_dir: Path) -> list[tuple[str, str, Path]]:
    """(schema, table, folder) of every table Spark holds in the model schemas, in order."""
    found = []
    for schema in MODEL_SCHEMAS:
        for folder in sorted((spark_dir / "warehouse" / f"{schema}.db").glob("*")):
            if folder.is_dir() and any(folder.rglob("*.parquet")):
                found.append((schema, folder.name, folder))
    return found


def _quote(text: str) -> str:
    return text.replace("'", "''")


def publish(warehouse: Path, spark_dir: Path) -> list[str]:
    """A view in ``warehouse`` over each table Spark holds; the views' names, in order."""
    published = []
    with connect(warehouse) as con:
        existing = dict(
            ((schema, name), kind)
            for schema, name, kind in con.execute(
                "select table_schema, table_name, table_type from information_schema.tables"
            ).fetchall()
        )
        for schema, name, folder in spark_tables(spark_dir):
            con.execute(f'create schema if not exists "{schema}"')
            if existing.get((schema, name)) == "BASE TABLE":
                con.execute(f'drop table "{schema}"."{name}"')
            files = _quote(str(folder.resolve() / "**" / "*.parquet"))
            con.execute(
                f'create or replace view "{schema}"."{name}" as '
                f"select * from read_parquet('{files}', hive_partitioning = true)"
            )
            published.append(f"{schema}.{name}")
    return published
