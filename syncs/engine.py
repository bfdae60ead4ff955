"""Run a sync: plan it, send the plan in batches, and commit each confirmed batch.

The rules (reference/hubspot.md §10):

* only what changed is sent; a run with nothing changed sends nothing and opens nothing;
* every batch is retried on :class:`~syncs.errors.RetryableError` with backoff, honouring the
  destination's wait; a batch refused as a whole is split in halves until only the bad rows
  fail; every row's outcome is recorded;
* state moves only for rows the destination confirmed, batch by batch, so a crash re-sends at
  most the batches in flight and refused rows are tried again next run with their reason kept;
* up to ``concurrency`` batches are in flight at once when the destination allows it
  (:attr:`~syncs.destinations.base.Capabilities.concurrent`); their answers are committed by
  the calling thread (:mod:`syncs.inflight`), list additions go out after the writes they need
  are confirmed, and leavers only once every write and list addition has answered;
* ``mirror`` deletes only records this sync created.

Example (an in-memory destination)::

    result = run_sync(spec, warehouse=con, state=StateStore(":memory:"), destination=dest)
    result.status, result.counts["added"]
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from syncs.audience import Audience, read_audience
from syncs.destinations.base import Destination, Row, RowResult
from syncs.diff import Plan, plan
from syncs.errors import (
    BatchRejected,
    FatalError,
    NotConfigured,
    RetriesExhausted,
    RetryableError,
    SyncConfigError,
    SyncError,
)
from syncs.inflight import InFlight
from syncs.secrets import scrub
from syncs.spec import SyncSpec
from syncs.state import RUN_COUNTS, Delivered, Refused, StateStore

log = logging.getLogger(__name__)

#: Batches in flight at once (``RECUR_SYNC_CONCURRENCY``). HubSpot allows 19 requests/s; with
#: answers taking 0.4 s (1.5 s for 1 in 100) plus ~0.15 s of client work on a loaded 2-core
#: machine, a call takes ~0.6 s, so 12 keep up on average: 16 absorb the tail (8 reached only
#: 51% of the ceiling, 16 73%, the rest being set-up and the window's first roll; docs/
#: benchmarks.md, sync section).
CONCURRENCY = 16
#: The most batches in flight a setting may ask for (the HubSpot client pools 32 connections).
MOST_CONCURRENCY = 32


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a batch is retried.

    ``max_wait`` bounds what one run spends on attempts that got no answer or a server error
    (5xx) and the pauses after them (``RECUR_SYNC_MAX_WAIT_SECONDS``): against a HubSpot that
    accepts connections and never answers, 6 attempts of a 30 s time-out each took 3.3 minutes
    per sync; with 120 s the run gives up after 4. Throttling (429, 423) is not counted.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_wait: float = 120.0

    def delay(self, attempt: int, hint: float = 0.0) -> float:
        """Exponential backoff for ``attempt`` (1-based), never shorter than the server's hint."""
        return max(hint, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass
class RunResult:
    """The outcome of one run, as recorded in the state's ``runs`` table."""

    run_id: str
    sync: str
    status: str  # success | partial | failed | dry_run | skipped | unchanged
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    samples: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for logs and the CLI."""
        c = self.counts
        text = (
            f"{self.sync}: {self.status}; {c.get('audience_rows', 0):,} in audience, "
            f"+{c.get('added', 0):,} ~{c.get('changed', 0):,} -{c.get('removed', 0):,}, "
            f"{c.get('unchanged', 0):,} unchanged, "
            + (f"{c['held_out']:,} held out, " if c.get("held_out") else "")
            + (f"{c['capped']:,} capped, " if c.get("capped") else "")
            + f"{c.get('invalid', 0):,} invalid, "
            f"{c.get('rejected', 0):,} rejected; {c.get('requests', 0):,} requests "
            f"({c.get('throttled', 0):,} throttled, {c.get('retries', 0):,} retries) "
            f"in {self.seconds:.1f} s"
        )
        return text + (f"; {self.error}" if self.error else "")


class Outages:
    """Destinations that did not answer at all lately, by endpoint, so that the next syncs to the
    same place in this process fail at once instead of each waiting ``max_wait`` again (five
    HubSpot syncs to a silent HubSpot took 17 minutes)."""

    #: How long a silent destination is not tried again by other syncs in the same process.
    SECONDS = 300.0

    def __init__(self) -> None:
        self._down: dict[str, tuple[float, str]] = {}

    def record(self, endpoint: str, error: str) -> None:
        self._down[endpoint] = (time.monotonic() + self.SECONDS, error)

    def check(self, endpoint: str) -> None:
        """Raise :class:`FatalError` when ``endpoint`` did not answer a recent run."""
        until, error = self._down.get(endpoint, (0.0, ""))
        left = until - time.monotonic()
        if left > 0:
            raise FatalError(
                f"{endpoint} did not answer an earlier sync in this process, so this one was not "
                f"tried (again in {left:.0f} s at the latest): {error}"
            )
        self._down.pop(endpoint, None)

    def clear(self) -> None:
        self._down.clear()


#: One registry per process: the syncs of one `recur sync` run one after another in it.
OUTAGES = Outages()


class _Run:
    """One run's moving parts; :func:`run_sync` is the interface."""

    def __init__(
        self,
        spec: SyncSpec,
        state: StateStore,
        destination: Destination,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        run_id: str,
    ) -> None:
        self.spec = spec
        self.state = state
        self.dest = destination
        self.policy = policy
        self.sleep = sleep
        self.run_id = run_id
        self.delivered = 0
        self.rejected = 0
        self.retries = 0
        self.progress: Callable[[int, int], None] | None = None
        self.done = 0
        self.total = 0
        # Seconds of failed attempts and pauses per sending thread, each bounded by
        # policy.max_wait: batches in flight together wait together, not one after another.
        self._waited: dict[int, float] = {}
        self._lock = threading.Lock()
        self._delivered: list[Delivered] = []  # confirmed, committed by flush()
        self._refused: list[Refused] = []
        self._to_list: list[Row] = []  # confirmed writes to add to the list, a batch at a time

    def advance(self, rows: int) -> None:
        """Count rows whose batch was answered, for the caller's progress bar."""
        self.done += rows
        if self.progress:
            self.progress(min(self.done, self.total), self.total)

    # -- sending ------------------------------------------------------------------------------

    def call(self, fn: Callable[[Sequence[Row]], list[RowResult]], rows: Sequence[Row], op: str):
        """``fn(rows)`` with retries; a whole-batch refusal is split until the bad rows are alone.

        Returns one result per row, by key; rows the destination did not mention are failures.
        """
        try:
            results = self._retrying(fn, rows)
        except BatchRejected as exc:
            if len(rows) == 1:
                return [RowResult(rows[0].key, ok=False, reason=str(exc), category="rejected")]
            middle = len(rows) // 2
            return self.call(fn, rows[:middle], op) + self.call(fn, rows[middle:], op)
        by_key = {r.key: r for r in results}
        return [
            by_key.get(row.key)
            or RowResult(row.key, ok=False, reason=f"{op}: not confirmed by the destination")
            for row in rows
        ]

    def _wait_counted(self, seconds: float) -> float:
        """Add ``seconds`` to this thread's failed attempts and pauses; returns its total."""
        me = threading.get_ident()
        self._waited[me] = self._waited.get(me, 0.0) + seconds
        return self._waited[me]

    def _retrying(self, fn, rows):
        for attempt in range(1, self.policy.max_attempts + 1):
            tried_at = time.perf_counter()
            try:
                return fn(rows)
            except RetryableError as exc:
                delay = self.policy.delay(attempt, exc.wait)
                # Throttling (429, 423) is pacing, not an outage: only silence and 5xx count.
                unavailable = exc.status is None or exc.status >= 500
                waited = self._wait_counted(time.perf_counter() - tried_at if unavailable else 0.0)
                out_of_time = unavailable and waited + delay > self.policy.max_wait
                if attempt == self.policy.max_attempts or out_of_time:
                    given_up = RetriesExhausted(
                        f"{self.dest.name}: {exc} (gave up after {attempt} attempts and "
                        f"{waited:.1f} s of failed attempts and pauses, at most "
                        f"{self.policy.max_wait:g} s: RECUR_SYNC_MAX_WAIT_SECONDS; the rows stay "
                        "dirty and are sent again next run)",
                        exc.status,
                    )
                    if exc.status is None:  # no answer at all: the destination looks down
                        OUTAGES.record(self.dest.endpoint, str(given_up))
                    raise given_up from exc
                with self._lock:
                    self.retries += 1
                self._wait_counted(delay if unavailable else 0.0)
                log.info("%s: %s; retrying in %.1f s", self.spec.name, scrub(str(exc)), delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def refuse(self, results: Sequence[RowResult], op: str) -> None:
        """Keep the refused rows of an answer for the next :meth:`flush`."""
        failed = [r for r in results if not r.ok]
        self.rejected += len(failed)
        self._refused += [Refused(r.key, op, r.reason or "refused", r.category) for r in failed]

    def flush(self) -> None:
        """Commit the writes confirmed and the rows refused since the last flush (the answers of
        one round of batches in flight: one transaction each instead of one per batch)."""
        delivered, self._delivered = self._delivered, []
        refused, self._refused = self._refused, []
        self.state.commit_delivered(self.run_id, self.spec.name, delivered)
        self.state.commit_refused(self.run_id, self.spec.name, refused)

    # -- the steps ------------------------------------------------------------------------------

    def write(
        self,
        flight: InFlight,
        audience: Audience,
        writes: pd.DataFrame,
        create: bool,
        list_after: bool,
    ) -> None:
        """Write changed rows batch by batch; list the confirmed ones once their batch answered."""
        names = [f.name for f in audience.fields]
        size = self.dest.capabilities.batch_size
        every = records_of(writes)  # once: per batch it cost 19 ms, a third of a send
        for start in range(0, len(every), size):
            records = every[start : start + size]
            rows = [
                Row(
                    key=rec["key"],
                    values={name: rec[f"v{i}"] for i, name in enumerate(names)},
                    record_id=rec["record_id"] if isinstance(rec["record_id"], str) else None,
                )
                for rec in records
            ]
            flight.submit(
                lambda rows=rows: self.call(
                    lambda batch: self.dest.write(self.spec, batch, create=create), rows, "write"
                ),
                lambda results, rows=rows, records=records: self._written(
                    flight, rows, records, results, list_after
                ),
            )

    def _written(
        self,
        flight: InFlight,
        rows: Sequence[Row],
        records: Sequence[dict[str, Any]],
        results: Sequence[RowResult],
        list_after: bool,
    ) -> None:
        """Keep one answered write batch for the flush, then send its confirmed rows to the list
        (they go out after the flush has committed them)."""
        sent = {row.key: row for row in rows}
        meta = {rec["key"]: rec for rec in records}
        ok = [r for r in results if r.ok]
        self._delivered += [
            Delivered(
                key=r.key,
                fingerprint=meta[r.key]["fingerprint"],
                values=dict(sent[r.key].values),
                record_id=r.record_id,
                created=r.created,
                operation=meta[r.key]["operation"],
            )
            for r in ok
        ]
        self.delivered += len(ok)
        self.refuse(results, "add_or_change")
        self.advance(len(rows))
        if list_after:
            to_list = [
                Row(r.key, {}, r.record_id or sent[r.key].record_id)
                for r in ok
                if meta[r.key]["needs_list"]
            ]
            self.list_add(flight, to_list)

    def list_add(self, flight: InFlight, rows: Sequence[Row]) -> None:
        """Add ``rows`` (confirmed writes) to the list in full batches; the rest waits for more
        rows or for :meth:`list_rest`. A write batch holds few newcomers on most days (150 among
        1,000 changed members took 11 list calls, one per write batch, where 2 do), and every
        call counts against the destination's rate limit."""
        missing_id = [row for row in rows if not row.record_id]
        if missing_id:
            self.state.forget_records(self.spec.name, [row.key for row in missing_id])
        self._to_list += [row for row in rows if row.record_id]
        size = self.dest.capabilities.batch_size
        full = len(self._to_list) - len(self._to_list) % size
        rows, self._to_list = self._to_list[:full], self._to_list[full:]
        self._send_list_add(flight, rows)

    def list_rest(self, flight: InFlight) -> None:
        """Wait for every write and list call out, then add the rows still waiting to the list
        and wait for those too."""
        flight.drain()
        rows, self._to_list = self._to_list, []
        self._send_list_add(flight, rows)
        flight.drain()

    def _send_list_add(self, flight: InFlight, rows: Sequence[Row]) -> None:
        size = self.dest.capabilities.batch_size
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            flight.submit(
                lambda batch=batch: self.call(
                    lambda b: self.dest.list_add(self.spec, b), batch, "list_add"
                ),
                self._listed,
            )

    def _listed(self, results: Sequence[RowResult]) -> None:
        ok = [r.key for r in results if r.ok]
        self.state.commit_listed(self.run_id, self.spec.name, ok, listed=True, operation="list_add")
        lost = [r.key for r in results if not r.ok and r.category == "OBJECT_NOT_FOUND"]
        # A record deleted in the destination by hand: write it again next run.
        self.state.forget_records(self.spec.name, lost)
        self.refuse(results, "list_add")

    def exit(self, flight: InFlight, exits: pd.DataFrame) -> None:
        """Members who left: take them off the list, delete what mirror created, record it."""
        size = self.dest.capabilities.batch_size
        records = records_of(exits)
        # A sync whose declaration lost its list leaves that list alone.
        listed = [r for r in records if r["listed"] and self.spec.list and not r["delete"]]
        unlist = [Row(r["key"], {}, r["record_id"]) for r in listed]
        delete = [Row(r["key"], {}, r["record_id"]) for r in records if r["delete"]]
        done = {row.key for row in unlist + delete}
        nothing = [r["key"] for r in records if r["key"] not in done]
        for rows, call, deleted, op in (
            (unlist, self.dest.list_remove, False, "list_remove"),
            (delete, self.dest.delete, True, "delete"),
        ):
            for start in range(0, len(rows), size):
                batch = rows[start : start + size]
                flight.submit(
                    lambda batch=batch, call=call, op=op: self.call(
                        lambda b: call(self.spec, b), batch, op
                    ),
                    lambda results, deleted=deleted, op=op: self._exited(results, deleted, op),
                )
        flight.drain()
        self.state.commit_exited(
            self.run_id, self.spec.name, nothing, deleted=False, operation="exit"
        )

    def _exited(self, results: Sequence[RowResult], deleted: bool, op: str) -> None:
        ok = [r.key for r in results if r.ok]
        self.state.commit_exited(self.run_id, self.spec.name, ok, deleted=deleted, operation=op)
        self.refuse(results, op)

    def snapshot(self, audience: Audience, p: Plan) -> None:
        """Snapshot destinations: write every valid member outside the holdout, then confirm
        them all at once."""
        names = [f.name for f in audience.fields]
        frame = audience.frame
        valid = frame[frame["invalid_reason"].isna() & ~frame["key"].isin(p.held_keys)]
        columns = [valid[column].tolist() for column in audience.value_columns]
        rows = [
            Row(key, dict(zip(names, values, strict=True)))
            for key, *values in zip(valid["key"].tolist(), *columns, strict=True)
        ]
        self._retrying(lambda _: self.dest.write_snapshot(self.spec, rows), rows)
        ops = dict(zip(p.writes["key"], p.writes["operation"], strict=True))
        delivered = [
            Delivered(row.key, fp, dict(row.values), None, False, ops.get(row.key, "unchanged"))
            for row, fp in zip(rows, valid["fingerprint"].tolist(), strict=True)
        ]
        self.state.commit_delivered(self.run_id, self.spec.name, delivered)
        self.state.commit_held_out(self.run_id, self.spec.name, p.holdouts)
        self.delivered += len(p.writes)
        self.state.commit_exited(
            self.run_id, self.spec.name, p.exits["key"].tolist(), deleted=False, operation="exit"
        )


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame``'s rows as dicts, as ``frame.to_dict("records")`` gives them, column by column:
    pandas boxes every cell of Arrow-backed text on its own there (2.3 s for 93,000 rows of 17
    columns, 0.3 s this way)."""
    columns = list(frame.columns)
    values = [frame[c].tolist() for c in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def run_sync(
    spec: SyncSpec,
    *,
    warehouse: duckdb.DuckDBPyConnection,
    state: StateStore,
    destination: Destination | Callable[[], Destination],
    dry_run: bool = False,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int], None] | None = None,
    concurrency: int = CONCURRENCY,
) -> RunResult:
    """Sync ``spec``'s audience (read through ``warehouse``) to ``destination``.

    ``destination`` may be a factory, called only when there is something to send, so dry runs
    and runs with nothing changed need no credentials and make no requests. Raises
    :class:`~syncs.errors.FatalError` (after recording the run) when the destination stops the
    run; rows refused one by one are not an error (status ``partial``). ``concurrency`` bounds
    the batches in flight at once (1 for a destination that is not ``concurrent``).

    Whatever stops a run (an error, a crash, Ctrl-C) closes its row in ``runs`` as ``failed``
    with the error, and no error leaves here, or is recorded, with a secret in it
    (:func:`~syncs.secrets.scrub`): one that carried one is raised again as a
    :class:`~syncs.errors.SyncError` with the secret blanked and its chain cut.
    """
    started = time.perf_counter()
    run_id = state.start_run(spec.name, spec.audience, spec.destination, dry_run=dry_run)
    result = RunResult(run_id, spec.name, "running")

    def finish(status: str, counts: dict[str, int], error: str | None = None) -> RunResult:
        counts = {column: 0 for column in RUN_COUNTS} | counts
        error = scrub(error) if error else None
        result.status, result.counts, result.error = status, counts, error
        result.seconds = time.perf_counter() - started
        state.finish_run(
            run_id, status, counts, error=error, samples=result.samples, seconds=result.seconds
        )
        return result

    try:
        return _execute(
            spec,
            warehouse,
            state,
            destination,
            dry_run,
            policy,
            sleep,
            progress,
            concurrency,
            result,
            finish,
        )
    except BaseException as exc:
        if result.status == "running":
            finish("failed", result.counts, describe(exc))
        if carries_secret(exc):
            raise SyncError(f"{spec.name}: {scrub(describe(exc))}") from None
        raise


def describe(exc: BaseException) -> str:
    """An error as one text: our own errors by their message, others with their type."""
    if isinstance(exc, SyncError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def carries_secret(exc: BaseException | None) -> bool:
    """Whether ``exc`` or an error in its chain says a secret of the environment."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if scrub(str(exc)) != str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _execute(
    spec: SyncSpec,
    warehouse: duckdb.DuckDBPyConnection,
    state: StateStore,
    destination: Destination | Callable[[], Destination],
    dry_run: bool,
    policy: RetryPolicy | None,
    sleep: Callable[[float], None],
    progress: Callable[[int, int], None] | None,
    concurrency: int,
    result: RunResult,
    finish: Callable[..., RunResult],
) -> RunResult:
    """The body of :func:`run_sync`: ``result`` is the run, ``finish`` records its end."""
    name, run_id = spec.destination, result.run_id
    audience = read_audience(warehouse, spec)
    has_list = bool(spec.list)
    the_plan = plan(state, audience, mirror=spec.mode == "mirror", has_list=has_list)
    result.samples = the_plan.samples
    counts = result.counts = the_plan.counts()
    if dry_run:
        return finish("dry_run", counts)
    invalid = [
        Refused(k, "add_or_change", reason, "invalid", outcome="invalid")
        for k, reason in zip(
            the_plan.invalid["key"], the_plan.invalid["invalid_reason"], strict=True
        )
    ]
    state.drop_stale_rejections(spec.name, audience.frame[["key"]])
    state.commit_refused(run_id, spec.name, invalid)
    state.remember_people(spec.name, audience.frame[["key", "person"]])
    state.commit_capped(run_id, spec.name, the_plan.capped)
    if the_plan.is_empty:
        return finish("unchanged" if not invalid else "partial", counts)
    try:
        dest = destination if isinstance(destination, Destination) else destination()
    except NotConfigured as exc:
        return finish("skipped", counts, str(exc))
    caps = dest.capabilities
    if spec.mode not in caps.modes:
        why = dict(caps.why_not).get(spec.mode)
        message = f"{name} does not support mode {spec.mode!r}" + (f": {why}" if why else "")
        finish("failed", counts, message)
        raise SyncConfigError(f"{spec.name}: {message}")
    if has_list and not caps.lists and not caps.snapshot:
        finish("failed", counts, f"{name} has no lists")
        raise SyncConfigError(f"{spec.name}: {name} has no static lists; remove 'list'")
    run = _Run(spec, state, dest, policy or RetryPolicy(), sleep, run_id)
    run.progress, run.total = progress, len(the_plan.writes)
    try:
        OUTAGES.check(dest.endpoint)
        run._retrying(lambda _: dest.open(spec, audience.fields), [])
        if caps.snapshot:
            run.snapshot(audience, the_plan)
        else:
            with InFlight(concurrency if caps.concurrent else 1, flush=run.flush) as flight:
                run.write(flight, audience, the_plan.writes, spec.mode != "update", has_list)
                if has_list:
                    run.list_add(
                        flight,
                        [
                            Row(k, {}, rid)
                            for k, rid in zip(
                                the_plan.list_only["key"],
                                the_plan.list_only["record_id"],
                                strict=True,
                            )
                        ],
                    )
                run.list_rest(flight)  # leavers go once every write and list addition answered
                state.commit_entered(run_id, spec.name, the_plan.enters)
                state.commit_held_out(run_id, spec.name, the_plan.holdouts)
                run.exit(flight, the_plan.exits)
    except BaseException as exc:
        finish("failed", _counts(counts, run, dest, len(invalid)), describe(exc))
        raise
    finally:
        dest.close()
    status = "partial" if run.rejected or invalid else "success"
    return finish(status, _counts(counts, run, dest, len(invalid)))


def _counts(counts: dict[str, int], run: _Run, dest: Destination, invalid: int) -> dict[str, int]:
    return {
        **counts,
        "invalid": invalid,
        "delivered": run.delivered,
        "rejected": run.rejected,
        "requests": dest.stats.requests,
        "write_requests": dest.stats.write_requests,
        "throttled": dest.stats.throttled,
        "retries": run.retries,
    }
