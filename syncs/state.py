"""What was delivered, kept in its own DuckDB file (``RECUR_STATE``).

Rebuilding the warehouse never forgets what a destination already has. Tables:

* ``records``: per sync and key, the fingerprint and values last *confirmed* by the destination,
  its record id there, whether this sync created it, is a member, and is in the static list;
* ``rejections``: rows held back (``invalid``) or refused by the destination (``rejected``),
  still dirty, with the latest reason and how many runs tried them;
* ``runs``: one row per run (dry runs too) with counts per outcome, requests and the error;
* ``row_log``: every row's outcome in every run;
* ``membership_events``: audience entered / exited events with their time, and whether the
  member is in the sync's holdout (recorded like the others, never sent);
* ``people``: per sync and key, the person (the audience's ``user_id``) it belongs to, so the
  delivery history can be joined to events and a frequency cap can see a person's contacts
  across syncs.

Each batch's confirmations are committed in one transaction with its log rows, so a crash loses
at most the batch in flight (which the next run sends again).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

DDL = """
create table if not exists records (
    sync varchar not null,
    key varchar not null,
    record_id varchar,
    fingerprint varchar,
    "values" json,
    created_by_sync boolean not null default false,
    member boolean not null default false,
    listed boolean not null default false,
    first_delivered_at timestamp,
    last_delivered_at timestamp,
    held_out boolean not null default false
);
create table if not exists rejections (
    sync varchar not null,
    key varchar,
    operation varchar not null,
    outcome varchar not null,
    reason varchar,
    category varchar,
    attempts integer not null,
    first_seen_at timestamp not null,
    last_seen_at timestamp not null,
    last_run_id varchar not null
);
create table if not exists runs (
    run_id varchar not null,
    sync varchar not null,
    audience varchar not null,
    destination varchar not null,
    dry_run boolean not null,
    status varchar not null,
    started_at timestamp not null,
    finished_at timestamp,
    duration_seconds double,
    audience_rows bigint,
    invalid bigint,
    added bigint,
    changed bigint,
    removed bigint,
    unchanged bigint,
    delivered bigint,
    rejected bigint,
    requests bigint,
    write_requests bigint,
    throttled bigint,
    retries bigint,
    error varchar,
    samples json,
    held_out bigint
);
create table if not exists row_log (
    run_id varchar not null,
    sync varchar not null,
    key varchar,
    operation varchar not null,
    outcome varchar not null,
    reason varchar,
    logged_at timestamp not null
);
create table if not exists membership_events (
    sync varchar not null,
    key varchar not null,
    event varchar not null,
    event_at timestamp not null,
    run_id varchar not null,
    held_out boolean not null default false
);
create table if not exists people (
    sync varchar not null,
    key varchar not null,
    person varchar not null,
    seen_at timestamp not null
);
-- state files written before holdouts and frequency caps
alter table records add column if not exists held_out boolean default false;
alter table runs add column if not exists held_out bigint;
alter table membership_events add column if not exists held_out boolean default false;
alter table runs add column if not exists capped bigint;
"""

#: Columns of the runs table a run fills in at its end.
RUN_COUNTS = (
    "audience_rows",
    "invalid",
    "added",
    "changed",
    "removed",
    "unchanged",
    "delivered",
    "rejected",
    "requests",
    "write_requests",
    "throttled",
    "retries",
    "held_out",
    "capped",
)


def utcnow() -> datetime:
    """Now in UTC, naive (DuckDB ``timestamp``)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Delivered:
    """One confirmed write: the row's key, what was sent and the destination's record id."""

    key: str
    fingerprint: str
    values: dict[str, str]
    record_id: str | None
    created: bool
    operation: str


@dataclass(frozen=True)
class Refused:
    """One row held back or refused, with the reason kept for the next run."""

    key: str | None
    operation: str
    reason: str
    category: str | None = None
    outcome: str = "rejected"


class StateStore:
    """The sync state file. Open one per process; it is a DuckDB file with a write lock."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(str(path))
        self.con.execute("set TimeZone = 'UTC'")
        self.con.execute(DDL)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def registered(self, **frames: pd.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection with ``frames`` readable as relations by their names, until exit."""
        for name, frame in frames.items():
            self.con.register(name, frame)
        try:
            yield self.con
        finally:
            for name in frames:
                self.con.unregister(name)

    @contextmanager
    def transaction(self, **frames: pd.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction, with ``frames`` registered: committed together or not at all."""
        with self.registered(**frames) as con:
            con.execute("begin transaction")
            try:
                yield con
            except BaseException:
                con.execute("rollback")
                raise
            con.execute("commit")

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, sync: str, audience: str, destination: str, *, dry_run: bool) -> str:
        """Record that a run started; returns its id."""
        run_id = f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.con.execute(
            "insert into runs (run_id, sync, audience, destination, dry_run, status, started_at) "
            "values (?, ?, ?, ?, ?, 'running', ?)",
            [run_id, sync, audience, destination, dry_run, utcnow()],
        )
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: str,
        counts: dict[str, int],
        *,
        error: str | None = None,
        samples: dict[str, Any] | None = None,
        seconds: float | None = None,
    ) -> None:
        """Record a run's end: its status, counts per outcome, error, samples and duration
        (``seconds`` as the caller measured it, else the time since the run's start)."""
        sets = ", ".join(f"{name} = ?" for name in RUN_COUNTS)
        now = utcnow()
        # In an update, `finished_at` on the right-hand side is the old value (NULL): the
        # duration is computed from the new one here, never from the column.
        self.con.execute(
            f"""update runs set status = ?, finished_at = ?, {sets}, error = ?, samples = ?,
                   duration_seconds = coalesce(?, epoch(?::timestamp) - epoch(started_at))
                where run_id = ?""",
            [status, now]
            + [int(counts.get(name, 0)) for name in RUN_COUNTS]
            + [error, json.dumps(samples or {}, default=str), seconds, now, run_id],
        )

    def runs(self, sync: str | None = None, limit: int = 20) -> pd.DataFrame:
        """The latest runs, newest first."""
        where = "where sync = ?" if sync else ""
        params: list[Any] = [sync] if sync else []
        return self.con.execute(
            f"select * from runs {where} order by started_at desc, run_id desc limit {int(limit)}",
            params,
        ).df()

    # -- commits ----------------------------------------------------------------------------

    def commit_delivered(self, run_id: str, sync: str, rows: Sequence[Delivered]) -> None:
        """Confirmed writes: store their fingerprints, mark them members, clear rejections."""
        if not rows:
            return
        now = utcnow()
        frame = pd.DataFrame(
            {
                "key": [r.key for r in rows],
                "fingerprint": [r.fingerprint for r in rows],
                "values": [json.dumps(r.values) for r in rows],
                "record_id": [r.record_id for r in rows],
                "created": [r.created for r in rows],
                "operation": [r.operation for r in rows],
            }
        )
        with self.transaction(delivered=frame) as con:
            self._entered(con, run_id, sync, "delivered", now)
            con.execute(
                """merge into records r
                   using delivered d on r.sync = $sync and r.key = d.key
                   when matched then update set
                       fingerprint = d.fingerprint, "values" = d."values",
                       record_id = coalesce(d.record_id, r.record_id),
                       created_by_sync = r.created_by_sync or d.created,
                       member = true, held_out = false, last_delivered_at = $now,
                       first_delivered_at = coalesce(r.first_delivered_at, $now)
                   when not matched then insert (sync, key, record_id, fingerprint, "values",
                       created_by_sync, member, listed, first_delivered_at, last_delivered_at)
                   values ($sync, d.key, d.record_id, d.fingerprint, d."values", d.created,
                       true, false, $now, $now)""",
                {"sync": sync, "now": now},
            )
            self._clear_rejections(con, sync, "delivered")
            con.execute(
                "insert into row_log select $run, $sync, key, operation, 'delivered', null, $now "
                "from delivered",
                {"run": run_id, "sync": sync, "now": now},
            )

    def commit_listed(
        self, run_id: str, sync: str, keys: Sequence[str], *, listed: bool, operation: str
    ) -> None:
        """Confirmed list additions (``listed=True``) or removals."""
        if not keys:
            return
        now = utcnow()
        with self.transaction(listed_keys=pd.DataFrame({"key": list(keys)})) as con:
            if listed:
                self._entered(con, run_id, sync, "listed_keys", now)
            con.execute(
                f"""update records set listed = $listed {", member = true" if listed else ""}
                    where sync = $sync and key in (select key from listed_keys)""",
                {"listed": listed, "sync": sync},
            )
            self._clear_rejections(con, sync, "listed_keys")
            con.execute(
                "insert into row_log select $run, $sync, key, $op, 'delivered', null, $now "
                "from listed_keys",
                {"run": run_id, "sync": sync, "op": operation, "now": now},
            )

    def commit_entered(self, run_id: str, sync: str, keys: Sequence[str]) -> None:
        """Members who came back with nothing to send: they are members again."""
        if not keys:
            return
        now = utcnow()
        with self.transaction(entered_keys=pd.DataFrame({"key": list(keys)})) as con:
            self._entered(con, run_id, sync, "entered_keys", now)
            con.execute(
                "update records set member = true "
                "where sync = ? and key in (select key from entered_keys)",
                [sync],
            )

    def commit_held_out(self, run_id: str, sync: str, keys: Sequence[str]) -> None:
        """Members who entered the holdout: recorded as members, never sent."""
        if not keys:
            return
        now = utcnow()
        with self.transaction(held_keys=pd.DataFrame({"key": list(keys)})) as con:
            con.execute(
                """insert into membership_events (sync, key, event, event_at, run_id, held_out)
                   select $sync, key, 'entered', $now, $run, true from held_keys""",
                {"sync": sync, "now": now, "run": run_id},
            )
            con.execute(
                """merge into records r
                   using held_keys h on r.sync = $sync and r.key = h.key
                   when matched then update set member = true, held_out = true
                   when not matched then insert (sync, key, member, held_out)
                   values ($sync, h.key, true, true)""",
                {"sync": sync},
            )
            self._clear_rejections(con, sync, "held_keys")
            con.execute(
                "insert into row_log select $run, $sync, key, 'add', 'held_out', null, $now "
                "from held_keys",
                {"run": run_id, "sync": sync, "now": now},
            )

    def commit_exited(
        self, run_id: str, sync: str, keys: Sequence[str], *, deleted: bool, operation: str
    ) -> None:
        """Members who left and whose removal (if any was needed) was confirmed."""
        if not keys:
            return
        now = utcnow()
        with self.transaction(exited_keys=pd.DataFrame({"key": list(keys)})) as con:
            con.execute(
                """insert into membership_events (sync, key, event, event_at, run_id, held_out)
                   select $sync, e.key, 'exited', $now, $run, coalesce(r.held_out, false)
                   from exited_keys e left join records r on r.sync = $sync and r.key = e.key""",
                {"sync": sync, "now": now, "run": run_id},
            )
            forget = (
                ', record_id = null, fingerprint = null, "values" = null, created_by_sync = false'
                if deleted
                else ""
            )
            con.execute(
                f"""update records set member = false, listed = false {forget}
                    where sync = ? and key in (select key from exited_keys)""",
                [sync],
            )
            self._clear_rejections(con, sync, "exited_keys")
            con.execute(
                "insert into row_log select $run, $sync, key, $op, 'delivered', null, $now "
                "from exited_keys",
                {"run": run_id, "sync": sync, "op": operation, "now": now},
            )

    def remember_people(self, sync: str, people: pd.DataFrame) -> None:
        """The person of each key (``people``: ``key``, ``person``), new or changed ones."""
        with self.transaction(audience_people=people) as con:
            con.execute(
                """merge into people p
                   using (select key, min(person) as person from audience_people
                          where key is not null and person is not null group by key) a
                   on p.sync = $sync and p.key = a.key
                   when matched and p.person <> a.person then
                       update set person = a.person, seen_at = $now
                   when not matched then insert values ($sync, a.key, a.person, $now)""",
                {"sync": sync, "now": utcnow()},
            )

    def commit_capped(self, run_id: str, sync: str, capped: pd.DataFrame) -> None:
        """Entrants deferred by the frequency cap (``capped``: ``key``, ``reason``): logged, not
        members, considered again next run."""
        if capped.empty:
            return
        with self.transaction(capped_rows=capped) as con:
            con.execute(
                "insert into row_log select $run, $sync, key, 'add', 'capped', reason, $now "
                "from capped_rows",
                {"run": run_id, "sync": sync, "now": utcnow()},
            )

    def commit_refused(self, run_id: str, sync: str, rows: Iterable[Refused]) -> None:
        """Rows held back or refused: keep the reason, count the attempt; they stay dirty."""
        rows = list(rows)
        if not rows:
            return
        now = utcnow()
        frame = pd.DataFrame(
            {
                "key": [r.key for r in rows],
                "operation": [r.operation for r in rows],
                "outcome": [r.outcome for r in rows],
                "reason": [r.reason for r in rows],
                "category": [r.category for r in rows],
            }
        )
        # One rejection per key (a repeated key is refused once per row in the log).
        with self.transaction(refused=frame, refused_keys=frame.drop_duplicates("key")) as con:
            con.execute(
                """merge into rejections j
                   using refused_keys f on j.sync = $sync and j.key is not distinct from f.key
                   when matched then update set operation = f.operation, outcome = f.outcome,
                       reason = f.reason, category = f.category, attempts = j.attempts + 1,
                       last_seen_at = $now, last_run_id = $run
                   when not matched then insert (sync, key, operation, outcome, reason,
                       category, attempts, first_seen_at, last_seen_at, last_run_id)
                   values ($sync, f.key, f.operation, f.outcome, f.reason, f.category, 1,
                       $now, $now, $run)""",
                {"sync": sync, "now": now, "run": run_id},
            )
            con.execute(
                "insert into row_log select $run, $sync, key, operation, outcome, reason, $now "
                "from refused",
                {"run": run_id, "sync": sync, "now": now},
            )

    def forget_records(self, sync: str, keys: Sequence[str]) -> None:
        """The destination lost these records (deleted by hand): write them again next run."""
        if keys:
            with self.transaction(lost_keys=pd.DataFrame({"key": list(keys)})) as con:
                con.execute(
                    """update records set record_id = null, fingerprint = null, listed = false
                       where sync = ? and key in (select key from lost_keys)""",
                    [sync],
                )

    def drop_stale_rejections(self, sync: str, audience_keys: pd.DataFrame) -> None:
        """Forget held-back rows whose key left the audience (``audience_keys``: a ``key``
        column)."""
        with self.registered(audience_keys=audience_keys) as con:
            con.execute(
                """delete from rejections where sync = ?
                   and operation in ('add_or_change', 'list_add')
                   and (key is null or key not in (select key from audience_keys
                                                    where key is not null))""",
                [sync],
            )

    # -- reads ------------------------------------------------------------------------------

    def rejections(self, sync: str) -> pd.DataFrame:
        """Rows still dirty for ``sync`` with their reasons."""
        return self.con.execute("select * from rejections where sync = ? order by key", [sync]).df()

    def records(self, sync: str) -> pd.DataFrame:
        """The confirmed state of every key ``sync`` ever delivered."""
        return self.con.execute("select * from records where sync = ? order by key", [sync]).df()

    def events(self, sync: str) -> pd.DataFrame:
        """Audience entered / exited events."""
        return self.con.execute(
            "select * from membership_events where sync = ? order by event_at, key", [sync]
        ).df()

    @staticmethod
    def _entered(con: duckdb.DuckDBPyConnection, run_id: str, sync: str, rel: str, now) -> None:
        con.execute(
            f"""insert into membership_events (sync, key, event, event_at, run_id)
                select $sync, k.key, 'entered', $now, $run from {rel} k
                where not exists (select 1 from records r
                                  where r.sync = $sync and r.key = k.key and r.member)""",
            {"sync": sync, "now": now, "run": run_id},
        )

    @staticmethod
    def _clear_rejections(con: duckdb.DuckDBPyConnection, sync: str, rel: str) -> None:
        con.execute(
            f"delete from rejections where sync = ? and key in (select key from {rel})", [sync]
        )
