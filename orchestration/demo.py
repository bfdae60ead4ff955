"""`recur demo`: the whole story on synthetic data, from a fresh clone.

Generates exports with a few faults (so the quarantine has something to show), materializes every
asset through Dagster, and prints what arrived where.
"""

from __future__ import annotations

import time

from orchestration import environment
from orchestration.progress import progress_bar
from sources.warehouse import connect


def summary(warehouse) -> str:
    """Per-source counts from the ledger, the commonest quarantine reasons, and table sizes."""
    with connect(warehouse, read_only=True) as con:
        ledger = con.execute(
            """select source, count(distinct partition), count(*), sum(lines_read), sum(loaded),
                      sum(duplicates), sum(quarantined)
               from raw.load_ledger group by 1 order by 1"""
        ).fetchall()
        reasons = con.execute(
            """select source, reason, count(*) from raw.quarantine
               group by all order by 3 desc, 1, 2 limit 8"""
        ).fetchall()
    lines = [
        f"{'source':<18}{'days':>6}{'files':>7}{'lines read':>12}{'loaded':>10}"
        f"{'duplicates':>12}{'quarantined':>13}"
    ]
    for source, days, files, read, loaded, dups, quarantined in ledger:
        lines.append(
            f"{source:<18}{days:>6}{files:>7}{read:>12,}{loaded:>10,}{dups:>12,}{quarantined:>13,}"
        )
    if reasons:
        lines.append("\nquarantined lines by reason:")
        lines += [f"  {n:>6,}  {source}: {reason}" for source, reason, n in reasons]
    return "\n".join(lines)


def demo(users: int = 2000, days: int = 30, seed: int = 0, faults: float = 0.01) -> int:
    from orchestration.definitions import build_defs
    from orchestration.runner import run
    from sandbox.generate import generate

    started = time.perf_counter()
    exports = environment.exports_path()
    print(f"1. Generating {days} days of exports for {users:,} people into {exports}")
    generate(
        exports,
        users=users,
        days=days,
        seed=seed,
        faults=faults,
        progress=progress_bar("generating"),
    )
    print("2. Loading every export day through Dagster (group ingest)")
    report = run(build_defs())
    if report.failed:
        print(f"{len(report.failed)} runs failed: {report.failed}")
        return 1
    print(f"\n3. The warehouse {environment.warehouse_path()}:\n")
    print(summary(environment.warehouse_path()))
    print(
        f"\nDone in {time.perf_counter() - started:.0f} s. Explore it in the Dagster UI: make dev"
    )
    return 0
