"""The sync engine against the in-memory destination: diffs, retries, splits, crashes, state."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from syncs.destinations.memory import MemoryDestination
from syncs.engine import RetryPolicy, run_sync
from syncs.errors import FatalError, RetryableError
from syncs.spec import SyncSpec
from syncs.state import StateStore

SPEC = SyncSpec(
    audience="aud_test",
    destination="memory",
    match_key="email",
    fields=(("tier", "tier"), ("ltv", "ltv")),
    list="Test list",
)
FAST = RetryPolicy(max_attempts=4, base_delay=0.0)


@pytest.fixture
def warehouse():
    con = duckdb.connect()
    con.execute("create schema audiences")
    set_audience(
        con, [(f"p{i}@example.com", "high" if i % 2 else "low", i * 1.5) for i in range(250)]
    )
    yield con
    con.close()


def set_audience(con, rows):
    con.execute(
        "create or replace table audiences.aud_test (email varchar, tier varchar, ltv double)"
    )
    if rows:
        con.executemany("insert into audiences.aud_test values (?, ?, ?)", rows)


@pytest.fixture
def state():
    with StateStore(":memory:") as store:
        yield store


def sync(warehouse, state, dest, spec=SPEC, **kwargs):
    return run_sync(
        spec,
        warehouse=warehouse,
        state=state,
        destination=dest,
        policy=FAST,
        sleep=lambda s: None,
        **kwargs,
    )


def test_first_run_delivers_everyone_in_batches_and_lists_them(warehouse, state):
    dest = MemoryDestination(batch_size=100)
    ticks = []
    result = sync(warehouse, state, dest, progress=lambda done, total: ticks.append((done, total)))
    assert ticks == [(100, 250), (200, 250), (250, 250)]
    assert result.status == "success"
    assert result.counts["added"] == 250 and result.counts["delivered"] == 250
    assert len(dest.records) == 250 and len(dest.members) == 250
    assert [c for c in dest.calls if c[0] == "write"] == [
        ("write", 100),
        ("write", 100),
        ("write", 50),
    ]
    assert dest.records["p3@example.com"] == {"tier": "high", "ltv": "4.5"}
    assert len(state.events(SPEC.name).query("event == 'entered'")) == 250


def test_rerun_with_nothing_changed_sends_nothing(warehouse, state):
    sync(warehouse, state, MemoryDestination())
    opened = []
    result = sync(warehouse, state, lambda: opened.append(1) or MemoryDestination())
    assert result.status == "unchanged" and result.counts["unchanged"] == 250
    assert opened == []  # the destination was not even created


def test_only_changed_rows_are_sent_and_leavers_are_unlisted(warehouse, state):
    dest = MemoryDestination()
    sync(warehouse, state, dest)
    rows = [(f"p{i}@example.com", "high" if i % 2 else "low", i * 1.5) for i in range(1, 250)]
    rows[0] = ("p1@example.com", "vip", 1.5)
    set_audience(warehouse, rows)
    dest.calls.clear()
    result = sync(warehouse, state, dest)
    assert (result.counts["changed"], result.counts["removed"], result.counts["added"]) == (1, 1, 0)
    assert dest.calls == [("write", 1), ("list_remove", 1)]
    assert dest.records["p1@example.com"]["tier"] == "vip"
    assert "p0@example.com" not in dest.members and "p0@example.com" in dest.records
    exited = state.events(SPEC.name).query("event == 'exited'")
    assert exited["key"].tolist() == ["p0@example.com"]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_newcomers_spread_over_write_batches_go_to_the_list_in_full_batches(state, concurrency):
    """A day where most members changed and a few are new: the newcomers sit a few per write
    batch, and each list call takes a full batch of them (the rest once the writes answered),
    not one call per write batch."""
    con = duckdb.connect()
    con.execute("create schema audiences")
    members = [(f"p{i}@example.com", "low", float(i)) for i in range(1000)]
    set_audience(con, members)
    dest = MemoryDestination(batch_size=100, concurrent=concurrency > 1)
    sync(con, state, dest, concurrency=concurrency)
    # every member changes, and 150 newcomers sort among them (writes go out by key)
    changed = [(email, "high", ltv + 0.5) for email, _, ltv in members]
    newcomers = [(f"p{i}-new@example.com", "high", 1.0) for i in range(0, 900, 6)]
    set_audience(con, changed + newcomers)
    dest.calls.clear()
    result = sync(con, state, dest, concurrency=concurrency)
    assert (result.counts["changed"], result.counts["added"]) == (1000, 150)
    writes = [n for op, n in dest.calls if op == "write"]
    lists = [n for op, n in dest.calls if op == "list_add"]
    assert sum(writes) == 1150 and len(writes) == 12
    assert sorted(lists, reverse=True) == [100, 50]  # not one call per write batch (11 here)
    assert len(dest.members) == 1150 and all(email in dest.members for email, *_ in newcomers)
    assert state.events(SPEC.name).query("event == 'entered'").shape[0] == 1150


def test_invalid_rows_are_held_back_with_reasons(warehouse, state):
    set_audience(
        warehouse,
        [
            ("ok@example.com", "a", 1.0),
            ("not-an-email", "a", 1.0),
            ("dup@example.com", "a", 1.0),
            ("DUP@example.com ", "b", 2.0),
            (None, "a", 1.0),
        ],
    )
    dest = MemoryDestination()
    result = sync(warehouse, state, dest)
    assert result.status == "partial"
    assert set(dest.records) == {"ok@example.com"}
    rejected = state.rejections(SPEC.name)
    reasons = {
        k if isinstance(k, str) else None: r
        for k, r in zip(rejected["key"], rejected["reason"], strict=True)
    }
    assert reasons["not-an-email"] == "invalid email address"
    assert reasons["dup@example.com"] == "the match key email appears 2 times in the audience"
    assert reasons[None] == "the match key email is empty"


def test_one_poisoned_row_is_isolated_by_splitting(warehouse, state):
    dest = MemoryDestination()
    dest.poison = {"p42@example.com"}
    result = sync(warehouse, state, dest)
    assert result.counts["delivered"] == 249 and result.counts["rejected"] == 1
    assert "p42@example.com" not in dest.records
    # 100 rows: log2(100) rounds of halving, 2 calls per round, ~14 extra write calls at most
    assert sum(1 for c in dest.calls if c[0] == "write") <= 3 + 14
    # fixed at the destination: the next run sends only that row
    dest.poison.clear()
    dest.calls.clear()
    result = sync(warehouse, state, dest)
    assert dest.calls == [("write", 1), ("list_add", 1)]
    assert state.rejections(SPEC.name).empty


def test_refused_rows_stay_dirty_with_their_reason_and_attempts(warehouse, state):
    dest = MemoryDestination()
    dest.refuse = {"p7@example.com": "blocked"}
    sync(warehouse, state, dest)
    sync(warehouse, state, dest)
    rejected = state.rejections(SPEC.name)
    assert rejected[["key", "reason", "attempts"]].values.tolist() == [
        ["p7@example.com", "blocked", 2]
    ]


def test_retryable_errors_are_retried_then_the_run_fails_leaving_rows_dirty(warehouse, state):
    dest = MemoryDestination()
    dest.fail_next([RetryableError("429", 429)] * 2)
    result = sync(warehouse, state, dest)
    assert result.status == "success" and result.counts["retries"] == 2
    set_audience(warehouse, [("new@example.com", "x", 1.0)])
    dest.fail_next([RetryableError("503", 503)] * 10)
    with pytest.raises(FatalError, match="gave up after 4 attempts"):
        sync(warehouse, state, dest)
    assert state.runs(SPEC.name).iloc[0]["status"] == "failed"
    dest.raises.clear()
    result = sync(warehouse, state, dest)
    assert result.counts["added"] == 1 and "new@example.com" in dest.members


def test_a_crash_mid_run_resends_at_most_the_batch_in_flight(warehouse, state):
    dest = MemoryDestination()
    dest.fail_next([None, None, KeyboardInterrupt()])  # placeholder, replaced below
    dest.raises = []
    calls = {"n": 0}
    original = dest.write

    def crashing_write(spec, rows, *, create):
        calls["n"] += 1
        if calls["n"] == 2:
            original(spec, rows, create=create)  # the destination applied it ...
            raise KeyboardInterrupt  # ... but we died before recording it
        return original(spec, rows, create=create)

    dest.write = crashing_write
    with pytest.raises(KeyboardInterrupt):
        sync(warehouse, state, dest)
    assert len(state.records(SPEC.name)) == 100
    dest.write = original
    result = sync(warehouse, state, dest)
    assert result.counts["added"] == 150
    assert max(dest.writes.values()) == 2 and sum(v == 2 for v in dest.writes.values()) == 100
    assert len(dest.members) == 250


@pytest.mark.parametrize("concurrency", [2, 4])
def test_a_crash_with_batches_in_flight_resends_at_most_those_batches(state, concurrency):
    con = duckdb.connect()
    con.execute("create schema audiences")
    rows = [(f"p{i}@example.com", "low", float(i)) for i in range(1000)]
    set_audience(con, rows)
    dest = MemoryDestination(concurrent=True)
    original = dest.write
    calls = {"n": 0}

    def crashing_write(spec, batch, *, create):
        calls["n"] += 1
        n = calls["n"]
        time.sleep(0.01)  # a round trip, so batches overlap
        results = original(spec, batch, create=create)  # the destination applied it ...
        if n == 5:
            raise KeyboardInterrupt  # ... but we died before recording it
        return results

    dest.write = crashing_write
    with pytest.raises(KeyboardInterrupt):
        sync(con, state, dest, concurrency=concurrency)
    committed = len(state.records(SPEC.name))
    assert 0 < committed < 1000
    dest.write = original
    result = sync(con, state, dest, concurrency=concurrency)
    assert result.counts["added"] == 1000 - committed
    twice = sum(v == 2 for v in dest.writes.values())
    assert max(dest.writes.values()) == 2 and 100 <= twice <= concurrency * 100
    assert len(dest.members) == 1000


def test_batches_go_out_together_and_lists_and_exits_wait_for_their_writes(state):
    con = duckdb.connect()
    con.execute("create schema audiences")
    set_audience(con, [(f"p{i}@example.com", "low", float(i)) for i in range(1000)])
    dest = MemoryDestination(concurrent=True)
    lock, open_calls, peak, answered, order = threading.Lock(), [0], [0], set(), []
    write, list_add, list_remove = dest.write, dest.list_add, dest.list_remove

    def slow_write(spec, rows, *, create):
        with lock:
            open_calls[0] += 1
            peak[0] = max(peak[0], open_calls[0])
        time.sleep(0.02)
        results = write(spec, rows, create=create)
        with lock:
            open_calls[0] -= 1
            answered.update(row.key for row in rows)
            order.append("write")
        return results

    def checked_list_add(spec, rows):
        with lock:
            assert {row.key for row in rows} <= answered  # listed only once written
            order.append("list_add")
        return list_add(spec, rows)

    def checked_list_remove(spec, rows):
        with lock:
            order.append("list_remove")
        return list_remove(spec, rows)

    dest.write, dest.list_add, dest.list_remove = slow_write, checked_list_add, checked_list_remove
    writers = set()
    commit = state.commit_delivered
    state.commit_delivered = lambda *a, **k: writers.add(threading.get_ident()) or commit(*a, **k)
    result = sync(con, state, dest, concurrency=4)
    assert result.counts["delivered"] == 1000 and len(dest.members) == 1000
    assert peak[0] == 4
    assert writers == {threading.get_ident()}  # one thread commits state
    # Next run: 500 change, 500 leave. Leavers go only after every write and list addition.
    set_audience(con, [(f"p{i}@example.com", "high", float(i)) for i in range(500)])
    order.clear()
    result = sync(con, state, dest, concurrency=4)
    assert (result.counts["changed"], result.counts["removed"]) == (500, 500)
    assert order == ["write"] * 5 + ["list_remove"] * 5
    assert len(dest.members) == 500


def test_mirror_deletes_only_what_it_created(warehouse, state):
    spec = SyncSpec("aud_test", "memory", "email", (("tier", "tier"),), mode="mirror")
    dest = MemoryDestination()
    dest.ids["p0@example.com"] = "999"  # existed before the sync
    dest.records["p0@example.com"] = {"tier": "old"}
    sync(warehouse, state, dest, spec)
    set_audience(warehouse, [("p5@example.com", "low", 1.0)])
    result = sync(warehouse, state, dest, spec)
    assert result.counts["removed"] == 249
    assert set(dest.records) == {"p0@example.com", "p5@example.com"}


def test_update_mode_never_creates(warehouse, state):
    spec = SyncSpec("aud_test", "memory", "email", (("tier", "tier"),), mode="update")
    dest = MemoryDestination()
    dest.ids["p1@example.com"] = "5"
    result = sync(warehouse, state, dest, spec)
    assert set(dest.records) == {"p1@example.com"}
    assert result.counts["rejected"] == 249


def test_dry_run_reports_samples_and_sends_nothing(warehouse, state):
    dest = MemoryDestination()
    sync(warehouse, state, dest)
    set_audience(warehouse, [("p1@example.com", "vip", 1.5), ("fresh@example.com", "low", 0.0)])
    result = sync(
        warehouse, state, lambda: pytest.fail("dry run created a destination"), dry_run=True
    )
    assert result.status == "dry_run"
    assert (result.counts["added"], result.counts["changed"], result.counts["removed"]) == (
        1,
        1,
        249,
    )
    assert result.samples["changed"] == [
        {"key": "p1@example.com", "fields": {"tier": {"before": "high", "after": "vip"}}}
    ]
    assert result.samples["added"][0]["key"] == "fresh@example.com"


def test_held_back_rows_that_leave_the_audience_are_forgotten(warehouse, state):
    set_audience(warehouse, [("ok@example.com", "a", 1.0), ("bad-address", "a", 1.0)])
    sync(warehouse, state, MemoryDestination())
    assert state.rejections(SPEC.name)["key"].tolist() == ["bad-address"]
    set_audience(warehouse, [("ok@example.com", "a", 1.0)])
    sync(warehouse, state, MemoryDestination())
    assert state.rejections(SPEC.name).empty


def test_a_configuration_error_found_when_opening_fails_the_run_and_is_recorded(warehouse, state):
    from syncs.errors import SyncConfigError

    dest = MemoryDestination()
    dest.open = lambda spec, fields: (_ for _ in ()).throw(SyncConfigError("no such list"))
    with pytest.raises(SyncConfigError):
        sync(warehouse, state, dest)
    run = state.runs(SPEC.name).iloc[0]
    assert (run["status"], run["error"]) == ("failed", "no such list")


def test_any_failure_closes_the_run_row_and_no_secret_leaves_in_the_error(
    warehouse, state, monkeypatch
):
    from syncs.errors import SyncError

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-0ne5ecret\r")

    def leaky():  # what http.client says about a header with a stray \r
        raise ValueError("Invalid header value b'Bearer pat-na1-0ne5ecret\\r'")

    with pytest.raises(SyncError) as raised:
        sync(warehouse, state, leaky)
    assert "0ne5ecret" not in str(raised.value) and raised.value.__suppress_context__
    run = state.runs(SPEC.name).iloc[0]
    assert run["status"] == "failed" and run["duration_seconds"] >= 0
    assert run["error"] == "ValueError: Invalid header value b'Bearer [HUBSPOT_ACCESS_TOKEN]'"
    with pytest.raises(KeyboardInterrupt):  # a crash closes the row too
        sync(warehouse, state, lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert state.runs(SPEC.name).iloc[0]["status"] == "failed"
