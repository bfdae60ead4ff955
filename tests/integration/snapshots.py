"""Rows of the incremental models as multisets, for comparing an incremental build with a full one."""

from __future__ import annotations

from collections import Counter

# Every incremental model of the dbt project (staging parses each export day once; the core marts).
INCREMENTAL_MODELS = (
    "staging.stg_mixpanel__events",
    "staging.stg_amplitude__events",
    "core.fct_events",
    "core.fct_sessions",
    "core.fct_orders",
    "core.dim_users",
)


def snapshot(con) -> dict[str, Counter]:
    """Each incremental model's rows without the run timestamp, counted: a multiset, so a row
    kept twice is a difference, not the same set."""
    tables = {}
    for table in INCREMENTAL_MODELS:
        schema, name = table.split(".")
        columns = {
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ?",
                [schema, name],
            ).fetchall()
        }
        exclude = " exclude (updated_at)" if "updated_at" in columns else ""
        tables[table] = Counter(con.execute(f"select *{exclude} from {table}").fetchall())
    return tables


def differences(incremental: dict[str, Counter], full: dict[str, Counter]) -> list[str]:
    """What an incremental build has that a full one does not, and the other way round."""
    found = []
    for table in INCREMENTAL_MODELS:
        extra, missing = incremental[table] - full[table], full[table] - incremental[table]
        if extra or missing:
            found.append(
                f"{table}: {sum(extra.values())} rows only incremental, {sum(missing.values())} "
                f"only full (of {sum(full[table].values())}); e.g. only incremental "
                f"{list(extra)[:2]}, only full {list(missing)[:2]}"
            )
    return found
