"""Text for people about syncs: which syncs a selection means, what a run or dry run did."""

from __future__ import annotations

from datetime import datetime

import dagster as dg

from orchestration.dbt_project import dbt_project
from syncs.engine import RunResult
from syncs.spec import SyncSpec, load_specs
from syncs.state import StateStore


def selected_specs(defs: dg.Definitions, select: str) -> list[SyncSpec]:
    """The declared syncs whose assets ``select`` (Dagster selection syntax) matches."""
    keys = dg.AssetSelection.from_string(select).resolve(defs.resolve_asset_graph())
    return [
        s for s in load_specs(dbt_project.manifest_path) if dg.AssetKey(["syncs", s.name]) in keys
    ]


def describe_dry_run(result: RunResult) -> str:
    """A dry run's counts and samples."""
    lines = [result.summary()]
    samples = result.samples
    for item in samples.get("added", []):
        lines.append(f"  + {item['key']}: {item['values']}")
    for item in samples.get("changed", []):
        changes = ", ".join(
            f"{name} {v['before']!r} -> {v['after']!r}" for name, v in item["fields"].items()
        )
        lines.append(f"  ~ {item['key']}: {changes}")
    lines += [f"  - {key}" for key in samples.get("removed", [])]
    lines += [f"  ! {item['key']}: {item['reason']}" for item in samples.get("invalid", [])]
    lines += [f"  h {key}: held out (recorded, not sent)" for key in samples.get("held_out", [])]
    lines += [f"  c {item['key']}: {item['reason']}" for item in samples.get("capped", [])]
    return "\n".join(lines)


def latest_runs(state: StateStore, names: list[str], since: datetime | None = None) -> str:
    """The latest run of each named sync, one line each. A run that started before ``since``
    (this command's start) is not this command's: it is marked stale, with its time, and its
    error is shown as an earlier one, so an old failure never reads as the current one."""
    runs = state.con.execute(
        """select sync, status, audience_rows, added, changed, removed, unchanged, invalid,
                  rejected, held_out, requests, throttled, round(duration_seconds, 1), error,
                  started_at
           from runs where sync in (select unnest($names)) and not dry_run
           qualify row_number() over (partition by sync order by started_at desc) = 1
           order by sync""",
        {"names": names},
    ).fetchall()
    lines = [
        f"{'sync':<42}{'status':<10}{'rows':>7}{'+':>7}{'~':>6}{'-':>6}{'=':>7}{'invalid':>8}"
        f"{'rejected':>9}{'held':>6}{'requests':>9}{'429s':>6}{'s':>6}"
    ]
    for (
        sync,
        status,
        n,
        add,
        chg,
        rem,
        same,
        inv,
        rej,
        held,
        req,
        thr,
        secs,
        error,
        started,
    ) in runs:
        stale = since is not None and started < since
        lines.append(
            f"{sync:<42}{'stale' if stale else status:<10}{n or 0:>7,}{add or 0:>7,}"
            f"{chg or 0:>6,}{rem or 0:>6,}{same or 0:>7,}{inv or 0:>8,}{rej or 0:>9,}"
            f"{held or 0:>6,}{req or 0:>9,}{thr or 0:>6,}{secs or 0:>6}"
        )
        if stale:
            lines.append(
                f"    not run now: the figures are from its last run, {started:%Y-%m-%d %H:%M} "
                f"UTC ({status})" + (f", which said: {error}" if error else "")
            )
        elif error:
            lines.append(f"    {error}")
    return "\n".join(lines)


def ran_since(state: StateStore, names: list[str], since: datetime) -> int:
    """How many of the named syncs have a run (not a dry run) that started at ``since`` or later."""
    return state.con.execute(
        """select count(distinct sync) from runs
           where sync in (select unnest($names)) and not dry_run and started_at >= $since""",
        {"names": names, "since": since},
    ).fetchone()[0]
