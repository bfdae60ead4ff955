"""The delivery history as data: what every sync run did, copied into the warehouse.

The sync state file (:mod:`syncs.state`) records each run's entries, sends, holdouts, caps,
refusals and exits. :func:`copy_deliveries` appends the runs the warehouse does not have yet to
``raw.audience_deliveries`` (one row per key and event), so dbt models read the history like
any other source: ``stg_recur__audience_deliveries``, then ``analytics.audience_uplift``.

Events:

* ``entered`` / ``exited``: the person joined or left the audience at this destination
  (``held_out`` tells their group);
* ``sent``: the destination confirmed a write (added or changed values) or a list addition for
  them (a file snapshot that rewrites unchanged members is not a send);
* ``held_out``: they entered the holdout and were recorded, not sent;
* ``capped``: the frequency cap deferred their entry (``reason`` names the earlier contact);
* ``refused``: held back as invalid or refused by the destination, with its ``reason``.

Copies are idempotent (a run is copied once, whole) and never hold the state file: it is read
through a read-only ``ATTACH`` after the syncs finished.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from sources.warehouse import ensure_raw_schema
from syncs.errors import SyncError
from syncs.state import StateStore

_EVENTS = """
with new_runs as (
    select run_id, audience, destination from recur_state.runs r
    where not dry_run
      and not exists (select 1 from raw.audience_deliveries d where d.run_id = r.run_id)
),
events as (
    select run_id, sync, key, event, null as operation, held_out, null as reason, event_at
    from recur_state.membership_events
    union all
    select run_id, sync, key,
           case outcome when 'delivered' then 'sent' when 'held_out' then 'held_out'
                        when 'capped' then 'capped' else 'refused' end,
           operation, outcome = 'held_out', reason, logged_at
    from recur_state.row_log
    where outcome in ('rejected', 'invalid', 'held_out', 'capped')
       or (outcome = 'delivered' and operation in ('add', 'change', 'list_add'))
)
select e.run_id, e.sync, r.audience, r.destination, e.key, coalesce(p.person, e.key),
       e.event, e.operation, e.held_out, e.reason, e.event_at, now()::timestamp
from events e
join new_runs r using (run_id)
left join recur_state.people p on p.sync = e.sync and p.key = e.key
order by e.event_at, e.sync, e.key
"""


class StateBusy(SyncError):
    """The state file is open in another process (a sync is running)."""


def copy_deliveries(state: Path, warehouse: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Append the runs of ``state`` not yet in ``raw.audience_deliveries``; returns the rows
    and runs copied and the rows the table now holds. Raises :class:`StateBusy` while a sync
    holds the state file."""
    ensure_raw_schema(warehouse)
    before = after = _counts(warehouse)
    if Path(state).exists():
        try:
            StateStore(state).close()  # brings a state file of an older Recur up to date
        except duckdb.IOException as exc:
            raise StateBusy(
                f"the sync state file {state} is in use by another process (a sync is running); "
                "the delivery history is copied on the next run"
            ) from exc
        path = str(Path(state).absolute()).replace("'", "''")
        warehouse.execute(f"attach '{path}' as recur_state (read_only)")
        try:
            warehouse.execute("begin transaction")
            before = _counts(warehouse)
            warehouse.execute(f"insert into raw.audience_deliveries {_EVENTS}")
            after = _counts(warehouse)
            warehouse.execute("commit")
        except BaseException:
            warehouse.execute("rollback")
            raise
        finally:
            warehouse.execute("detach recur_state")
    return {
        "rows": after[0] - before[0],
        "runs": after[1] - before[1],
        "total_rows": after[0],
        "total_runs": after[1],
    }


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Rows and runs in ``raw.audience_deliveries``."""
    return con.execute(
        "select count(*), count(distinct run_id) from raw.audience_deliveries"
    ).fetchall()[0]
