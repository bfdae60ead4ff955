"""Compare tables of a DuckDB build with the same tables built on local Spark (docs/spark.md).

DuckDB reads the Spark tables' Parquet files (``<RECUR_SPARK_DIR>/warehouse/<schema>.db/<table>``)
next to the DuckDB warehouse and counts the rows found on one side only (``except all``), with
doubles and decimals rounded to 6 places and build-time columns left out.

    python bench/spark_compare.py WAREHOUSE SPARK_DIR core fct_events fct_sessions fct_orders dim_users
"""

from __future__ import annotations

import sys

import duckdb

BUILD_TIME_COLUMNS = {"updated_at"}


def _expression(name: str, kind: str) -> str:
    kind = kind.upper()
    if kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
        return f'round(cast("{name}" as double), 6) as "{name}"'
    if kind.startswith("TIMESTAMP"):
        return f'cast("{name}" as timestamp) as "{name}"'
    if kind == "JSON":
        return f'cast("{name}" as varchar) as "{name}"'
    return f'"{name}"'


def compare(warehouse: str, spark_dir: str, schema: str, table: str) -> dict:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{warehouse}' as duck (read_only)")
    duck = f"duck.{schema}.{table}"
    spark = f"read_parquet('{spark_dir}/warehouse/{schema}.db/{table}/**/*.parquet')"
    columns = [
        row[:2] for row in con.execute(f"describe select * from {duck}").fetchall()
        if row[0] not in BUILD_TIME_COLUMNS
    ]
    select = ", ".join(_expression(name, kind) for name, kind in columns)

    def one(sql: str) -> int:
        return con.execute(sql).fetchall()[0][0]

    return {
        "rows_duckdb": one(f"select count(*) from {duck}"),
        "rows_spark": one(f"select count(*) from {spark}"),
        "only_duckdb": one(f"select count(*) from (select {select} from {duck} except all select {select} from {spark})"),
        "only_spark": one(f"select count(*) from (select {select} from {spark} except all select {select} from {duck})"),
    }


def main(argv: list[str]) -> int:
    warehouse, spark_dir, schema, *tables = argv
    differ = False
    for table in tables:
        result = compare(warehouse, spark_dir, schema, table)
        differ |= bool(result["only_duckdb"] or result["only_spark"])
        print(f"{schema}.{table}: {result}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
