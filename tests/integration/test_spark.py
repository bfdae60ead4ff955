"""The same models and numbers on Spark (issue 16, docs/spark.md).

One data set (400 people, 21 days) goes through both engines from the same model files. DuckDB
builds it with dbt as always (warehouse A). Recur runs it on the Spark engine (warehouse B,
``RECUR_ENGINE=spark``) through its Dagster definitions, as ``recur run`` does: the loader, the
raw tables' Parquet mirror, `dbt build` on a local Spark session (the LTV Python models
included), the Spark tables published as views of warehouse B, and Recur's quality suites and
report reading them. Every data test and check passes (but one warning: an empty audience),
and every table of every layer is the same on both engines: row for row, as multisets, numbers
within 1e-9 relative or 1e-6 absolute (doubles summed in another order; Spark's six decimal
places of a decimal division), the load and build times left out.

Then three more days arrive, and two days already built are re-exported: one with 10 lines fewer,
one emptied. Recur builds incrementally on Spark (staging overwrites the re-loaded days'
partitions, and drops the emptied one); DuckDB rebuilds everything from scratch
(``--full-refresh``). Every table is again equal: incremental equals full across the engines.

About 12 minutes: Spark costs 30-70 s per dbt command before any SQL and 0.2-3 s per data test.
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from sandbox.generate import generate
from sources import layout
from tests.conftest import load_exports, point_recur_at, run_dbt

MODEL_SCHEMAS = ("seeds", "staging", "intermediate", "core", "analytics", "audiences")
# when each warehouse built and loaded (the two warehouses load the same files apart)
BUILD_TIME_COLUMNS = {"updated_at", "loaded_at"}
# tables whose rows the comparison must not find empty on this data set (a comparison of two
# empty tables proves nothing)
NOT_EMPTY = (
    "core.fct_events",
    "core.fct_sessions",
    "core.fct_orders",
    "core.dim_users",
    "analytics.retention_cohorts",
    "analytics.revenue_cohorts",
    "analytics.user_rfm",
    "analytics.ltv_model_params",
    "analytics.customer_ltv",
    "analytics.churn_risk",
    "audiences.aud_contact_traits",
    "audiences.aud_new_customers",
)


FLOATS = ("DOUBLE", "FLOAT", "REAL")


def _numeric(kind: str) -> bool:
    return kind.upper() in FLOATS or kind.upper().startswith("DECIMAL")


def _value(name: str, kind: str) -> str:
    kind = kind.upper()
    if kind in FLOATS or kind.startswith("DECIMAL"):
        return f'cast("{name}" as double)'
    if kind.startswith("TIMESTAMP"):
        return f'cast("{name}" as timestamp)'
    if kind in ("JSON", "VARCHAR"):
        return f'cast("{name}" as varchar)'
    return f'"{name}"'


def model_tables(warehouse: Path) -> list[str]:
    """The tables the dbt project built in ``warehouse`` (DuckDB's own, not views)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return [
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables "
                f"where table_type = 'BASE TABLE' and table_schema in {MODEL_SCHEMAS} "
                "order by 1, 2"
            ).fetchall()
        ]


def rows(warehouse: Path, table: str, columns: list[tuple[str, str]]) -> list[tuple]:
    """The table's rows, the exact columns first and the doubles last."""
    exact = [c for c in columns if not _numeric(c[1])]
    floats = [c for c in columns if _numeric(c[1])]
    select = ", ".join(_value(name, kind) for name, kind in exact + floats)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(f"select {select} from {table}").fetchall()


def same_rows(duck: list[tuple], spark: list[tuple], floats: int) -> bool:
    """Equal as multisets, numbers (the last ``floats`` values) within 1e-9 relative or 1e-6
    absolute: doubles summed in another order differ in the last bits, and Spark keeps six
    decimal places of a decimal division where DuckDB keeps more."""
    if len(duck) != len(spark):
        return False
    cut = len(duck[0]) - floats if duck else 0

    def ordered(found):
        return sorted(found, key=lambda row: (repr(row[:cut]), [repr(v) for v in row[cut:]]))

    for a, b in zip(ordered(duck), ordered(spark), strict=True):
        if a[:cut] != b[:cut]:
            return False
        for x, y in zip(a[cut:], b[cut:], strict=True):
            if (x is None) != (y is None):
                return False
            if x is not None and not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6):
                return False
    return True


def differences(duckdb_warehouse: Path, spark_warehouse: Path) -> tuple[dict[str, int], list[str]]:
    """Rows per table (DuckDB), and every table whose rows differ between the engines: DuckDB's
    own tables in one warehouse, the views of Spark's tables in the other."""
    counts, found = {}, []
    for table in model_tables(duckdb_warehouse):
        with duckdb.connect(str(duckdb_warehouse), read_only=True) as con:
            described = con.execute(f"describe select * from {table}").fetchall()
        columns = [(c[0], c[1]) for c in described if c[0] not in BUILD_TIME_COLUMNS]
        floats = sum(1 for _, kind in columns if _numeric(kind))
        duck = rows(duckdb_warehouse, table, columns)
        try:
            spark = rows(spark_warehouse, table, columns)
        except duckdb.Error as error:
            found.append(f"{table}: not readable from Spark's build ({error})")
            continue
        counts[table] = len(duck)
        if not same_rows(duck, spark, floats):
            only_duck = Counter(duck) - Counter(spark)
            only_spark = Counter(spark) - Counter(duck)
            found.append(
                f"{table}: {len(duck)} rows on DuckDB, {len(spark)} on Spark; e.g. "
                f"{list(only_duck)[:1]} / {list(only_spark)[:1]}"
            )
    return counts, found


def failed_checks(instance: dg.DagsterInstance) -> tuple[int, list[str]]:
    """How many checks the instance's runs evaluated (dbt's data tests, Recur's suites), and the
    ones that failed."""
    evaluations = [
        event.dagster_event.event_specific_data
        for run in instance.get_runs()
        for event in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
    ]
    failed = [
        f"{e.asset_key.to_user_string()}: {e.check_name}" for e in evaluations if not e.passed
    ]
    return len(evaluations), failed


def move_days(days: list[str], source: Path, target: Path) -> None:
    """Move the export files of ``days`` (both sources) from one export folder to another."""
    for file in sorted(source.rglob("*")):
        if file.is_file() and any(day in file.name for day in days):
            destination = target / file.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            file.rename(destination)


@pytest.fixture(scope="module")
def java():
    if shutil.which("java") is None:
        pytest.fail("Spark needs Java 17: `make test` installs Debian's openjdk-17-jre-headless")


def test_spark_builds_the_same_tables_as_duckdb_full_then_incremental(java, tmp_path):
    exports, later = tmp_path / "exports", tmp_path / "later"
    generate(exports, users=400, days=21, seed=16)
    days = [str(day) for day in layout.export_days(exports, "mixpanel")]
    move_days(days[18:], exports, later)  # the first 18 days first
    duck = tmp_path / "duckdb" / "warehouse.duckdb"
    duck.parent.mkdir()
    spark_root = tmp_path / "spark-engine"
    spark_root.mkdir()
    spark = spark_root / "warehouse.duckdb"

    from orchestration.definitions import build_defs
    from orchestration.runner import run

    def build_both(*dbt_args: str) -> tuple[dict[str, int], list[str], int]:
        load_exports(duck, exports)
        run_dbt(["build", "--exclude", "tag:incremental_only", *dbt_args], duck, duck.parent)
        with pytest.MonkeyPatch.context() as mp:
            point_recur_at(
                mp,
                spark_root,
                exports,
                RECUR_ENGINE="spark",
                RECUR_SPARK_DIR=str(spark_root / "spark"),
                RECUR_PARQUET_MIRROR=str(spark_root / "raw-parquet"),
                RECUR_AUDIENCE_FILES=str(spark_root / "files"),
            )
            instance = dg.DagsterInstance.ephemeral()
            report = run(
                build_defs(), select="not group:syncs", dagster_instance=instance, echo=print
            )
        assert report.failed == [], report.errors
        evaluated, failed = failed_checks(instance)
        # the one warning of this data set: nobody has been away long enough to be won back
        # (aud_win_back is empty on both engines; compared below)
        assert set(failed) <= {"audiences/aud_win_back: audience_not_empty"}, failed
        counts, found = differences(duck, spark)
        assert found == []
        return counts, found, evaluated

    # 1. the first 18 days, built in full on both engines
    counts, _, evaluated = build_both()
    assert evaluated >= 400, evaluated  # dbt's data tests on Spark, and Recur's suites
    assert len(counts) >= 30, counts
    assert [t for t in NOT_EMPTY if not counts.get(t)] == []
    with duckdb.connect(str(spark), read_only=True) as con:
        fitted = con.execute(
            "select count(*) from analytics.ltv_model_params where model = 'bgnbd' "
            "and model_status = 'fitted' and fit_status in ('converged', 'no_dropout_limit')"
        ).fetchall()[0][0]
        kinds = dict(
            con.execute(
                "select table_schema || '.' || table_name, table_type "
                "from information_schema.tables where table_schema = 'core'"
            ).fetchall()
        )
    assert fitted == 4  # r, alpha, a, b: fitted on Spark's summary, equal to DuckDB's (above)
    assert kinds["core.fct_events"] == "VIEW"  # warehouse B reads Spark's files

    # 2. three new days; day 5 re-exported with 10 lines fewer, day 9 emptied
    move_days(days[18:], later, exports)
    mixpanel = exports / "mixpanel"
    cut = mixpanel / f"{days[4]}.jsonl"
    lines = cut.read_text().splitlines()
    cut.write_text("".join(line + "\n" for line in lines[10:]))
    (mixpanel / f"{days[8]}.jsonl").write_text("")
    build_both("--full-refresh")

    with duckdb.connect(str(spark), read_only=True) as con:
        per_day = dict(
            con.execute(
                "select cast(arrived_on as varchar), count(*) from staging.stg_mixpanel__events "
                "group by 1"
            ).fetchall()
        )
    assert days[8] not in per_day  # the emptied day is empty on both engines
    assert per_day[days[4]] == len(lines) - 10  # the shorter day holds exactly its lines
    assert set(days[18:]) <= set(per_day)
