"""DuckDB against local Spark on the same data: the whole dbt project built on each engine.

Steps, each a process of its own (``bench.dbt_build.measured``: wall and CPU seconds, the largest
process's peak RSS, the 1-minute load average at its start):

1. generate ``--users`` people over ``--days`` days (kept in ``bench/out/`` for the next run) and
   load them into a fresh DuckDB warehouse with Recur's loader (not timed here);
2. a fixed cost on each engine: ``dbt seed --select rfm_segments`` (25 rows);
3. DuckDB: ``dbt build`` of every model and data test;
4. the raw tables' Parquet mirror (``sources.parquet_mirror``);
5. Spark: ``recur-dbt build`` of every model and data test on a local session (``local[1]``, as
   the profile's default), the LTV Python models included;
6. every table compared: DuckDB's own against the Spark build's Parquet files (the views
   ``sources.spark_views`` publishes), rows as multisets with doubles rounded to 6 places.

    python -m bench.spark [--users 5000] [--days 30]      # `make bench-spark`; results in
                                                          # bench/out/spark.json

Unit tests are left out on both engines (``--exclude test_type:unit``): they check code on
fixtures, not the data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from bench.dbt_build import ROOT, dbt_command, measured

OUT = ROOT / "bench" / "out"


def nodes(run_results: Path) -> dict[str, int]:
    """Nodes of a dbt command by status."""
    counts: dict[str, int] = {}
    for result in json.loads(run_results.read_text())["results"]:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts


def compare(warehouse: Path, spark_dir: Path) -> dict[str, dict]:
    """Per table: rows on DuckDB, and the rows found on one engine only (rounded doubles)."""
    from sources.spark_views import spark_tables

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{warehouse}' as duck (read_only)")
    found = {}
    for schema, name, folder in spark_tables(spark_dir):
        table = f"duck.{schema}.{name}"
        columns = [
            (c[0], c[1].upper())
            for c in con.execute(f"describe select * from {table}").fetchall()
            if c[0] != "updated_at"
        ]

        def value(column: str, kind: str) -> str:
            if kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
                return f'round(cast("{column}" as double), 6)'
            if kind in ("JSON", "VARCHAR"):
                return f'cast("{column}" as varchar)'
            return f'cast("{column}" as {kind})'

        select = ", ".join(value(c, k) for c, k in columns)
        spark = f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"
        one = lambda sql: con.execute(sql).fetchall()[0][0]  # noqa: E731
        found[f"{schema}.{name}"] = {
            "rows": one(f"select count(*) from {table}"),
            "only_duckdb": one(
                f"select count(*) from (select {select} from {table} "
                f"except all select {select} from {spark})"
            ),
            "only_spark": one(
                f"select count(*) from (select {select} from {spark} "
                f"except all select {select} from {table})"
            ),
        }
    return found


def run(users: int, days: int) -> dict:
    from bench.dbt_build import load
    from sandbox.generate import generate
    from sources.parquet_mirror import mirror

    exports = OUT / f"exports-{users}u-{days}d"
    if not (exports / "truth").exists():
        generate(exports, users=users, days=days, seed=7)
    work = OUT / "spark"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    warehouse = work / "warehouse.duckdb"
    loaded = load(exports, warehouse, 0, days)
    env = {
        **os.environ,
        "RECUR_WAREHOUSE": str(warehouse),
        "RECUR_SPARK_DIR": str(work / "spark"),
        "RECUR_PARQUET_MIRROR": str(work / "raw-parquet"),
        "DO_NOT_TRACK": "1",
    }
    duck_env = {**env, "RECUR_ENGINE": "duckdb"}
    spark_env = {**env, "RECUR_ENGINE": "spark"}
    steps = {}

    started = time.perf_counter()
    mirrored = mirror(warehouse, work / "raw-parquet")
    mirror_seconds = round(time.perf_counter() - started, 2)

    seed = ("--select", "rfm_segments")
    steps["duckdb_seed"] = measured(
        dbt_command("seed", work / "duck-seed", *seed, executable="dbt"),
        work / "duck-seed.log",
        duck_env,
    )
    steps["spark_seed"] = measured(
        dbt_command("seed", work / "spark-seed", *seed, executable="recur-dbt"),
        work / "spark-seed.log",
        spark_env,
    )
    build = ("--exclude", "test_type:unit")
    steps["duckdb_build"] = measured(
        dbt_command("build", work / "duck", *build, executable="dbt"), work / "duck.log", duck_env
    )
    steps["duckdb_build"]["nodes"] = nodes(work / "duck" / "target" / "run_results.json")
    steps["spark_build"] = measured(
        dbt_command("build", work / "spark-build", *build, executable="recur-dbt"),
        work / "spark.log",
        spark_env,
    )
    steps["spark_build"]["nodes"] = nodes(work / "spark-build" / "target" / "run_results.json")
    tables = compare(warehouse, work / "spark")
    return {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "users": users,
        "days": days,
        "loaded": loaded,
        "mirror": {
            "seconds": mirror_seconds,
            "rows": sum(m.rows for m in mirrored),
            "files": sum(m.files for m in mirrored),
        },
        "steps": steps,
        "tables": tables,
    }


def table(result: dict) -> str:
    s = result["steps"]
    events = sum(result["loaded"]["events"].values())
    differ = [t for t, r in result["tables"].items() if r["only_duckdb"] or r["only_spark"]]
    lines = [
        f"Measured {result['measured_at']} on {result['machine']}: {events:,} events of "
        f"{result['users']:,} people over {result['days']} days; Spark `local[1]`, 4 GB driver.",
        "",
        "| step | DuckDB wall s | DuckDB CPU s | Spark wall s | Spark CPU s | Spark / DuckDB (wall) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, duck, spark in (
        ("`dbt seed --select rfm_segments` (fixed cost)", s["duckdb_seed"], s["spark_seed"]),
        ("`dbt build`, every model and data test", s["duckdb_build"], s["spark_build"]),
    ):
        lines.append(
            f"| {label} | {duck['seconds']:.1f} | {duck['cpu_seconds']:.1f} | "
            f"{spark['seconds']:.1f} | {spark['cpu_seconds']:.1f} | "
            f"{spark['seconds'] / duck['seconds']:.1f}x |"
        )
    lines += [
        "",
        f"Nodes: DuckDB {s['duckdb_build']['nodes']}, Spark {s['spark_build']['nodes']}. Peak RSS "
        f"of the largest process: DuckDB {s['duckdb_build']['peak_rss_mb']:,.0f} MB, Spark "
        f"{s['spark_build']['peak_rss_mb']:,.0f} MB; Spark's CPU and memory figures leave out its "
        "JVM, which GNU time does not see (the build used the 4 GB driver). Load average at the builds' "
        f"starts: {s['duckdb_build']['load_before']} and {s['spark_build']['load_before']}. "
        f"The Parquet mirror of the raw tables: {result['mirror']['rows']:,} rows in "
        f"{result['mirror']['seconds']:.1f} s.",
        "",
        f"Tables compared: {len(result['tables'])}; differing after rounding doubles to 6 places: "
        + (", ".join(differ) if differ else "none"),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--report", action="store_true", help="print the last run's table again")
    args = parser.parse_args(argv)
    if args.report:
        print(table(json.loads((OUT / "spark.json").read_text())))
        return 0
    result = run(args.users, args.days)
    (OUT / "spark.json").write_text(json.dumps(result, indent=2))
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
