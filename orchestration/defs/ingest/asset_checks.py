"""Checks that every exported line is accounted for."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.

import dagster as dg

from orchestration.resources import WarehouseResource
from sources import layout

_TABLES = {
    layout.MIXPANEL: ("raw.mixpanel_events", "partition"),
    layout.AMPLITUDE: ("raw.amplitude_events", "partition"),
    layout.MIXPANEL_PROFILES: ("raw.mixpanel_profiles", "null"),
}


def ledger_problems(con, source: str) -> list[str]:
    """Ledger lines that do not add up, and partitions whose table rows differ from the ledger."""
    table, partition = _TABLES[source]
    unbalanced = con.execute(
        "select file, lines_read, loaded, duplicates, quarantined from raw.load_ledger "
        "where source = ? and lines_read <> loaded + duplicates + quarantined",
        [source],
    ).fetchall()
    mismatched = con.execute(
        f"""
        with ledger as (select partition, sum(loaded) as loaded from raw.load_ledger
                        where source = ? group by partition),
             rows as (select {partition} as partition, count(*) as n from {table} group by all)
        select coalesce(l.partition, r.partition), coalesce(l.loaded, 0), coalesce(r.n, 0)
        from ledger l full join rows r on l.partition is not distinct from r.partition
        where coalesce(l.loaded, 0) <> coalesce(r.n, 0)
        """,
        [source],
    ).fetchall()
    return [
        f"{f}: {r} read <> {ld} loaded + {d} duplicates + {q} quarantined"
        for f, r, ld, d, q in unbalanced
    ] + [
        f"partition {p}: the ledger says {ld} loaded, {table} holds {n}" for p, ld, n in mismatched
    ]


def _ledger_check(asset_key: list[str], source: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key,
        name="ledger_balances",
        blocking=True,
        description="Every line read is loaded, a duplicate or quarantined, and the table holds "
        "exactly the rows the ledger says were loaded.",
    )
    def check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect() as con:
            problems = ledger_problems(con, source)
            totals = con.execute(
                "select count(*), coalesce(sum(lines_read), 0), coalesce(sum(quarantined), 0) "
                "from raw.load_ledger where source = ?",
                [source],
            ).fetchone()
        return dg.AssetCheckResult(
            passed=not problems,
            metadata={
                "files": totals[0],
                "lines_read": int(totals[1]),
                "quarantined": int(totals[2]),
                "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
            },
        )

    return check


ledger_checks = [
    _ledger_check(["raw", "mixpanel_events"], layout.MIXPANEL),
    _ledger_check(["raw", "amplitude_events"], layout.AMPLITUDE),
    _ledger_check(["raw", "mixpanel_profiles"], layout.MIXPANEL_PROFILES),
]
