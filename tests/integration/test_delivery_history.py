"""Delivery history as data and frequency caps (issue 15, item 2).

Syncs run against the in-memory destination with a holdout, an invalid address and a refused
row; the state file's history is then copied into a real warehouse file as
``raw.audience_deliveries``. Expected groups come from hashlib (the documented rule), expected
events from what the destination holds, never from the SQL under test.
"""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from orchestration.sync_report import describe_dry_run
from sources.warehouse import connect
from syncs.destinations.memory import MemoryDestination
from syncs.engine import RetryPolicy, run_sync
from syncs.errors import SyncConfigError
from syncs.history import StateBusy, copy_deliveries
from syncs.spec import SyncSpec
from syncs.state import StateStore

FAST = RetryPolicy(max_attempts=3, base_delay=0.01)


def spec(audience, **extra):
    declaration = {
        "destination": "memory",
        "match_key": "email",
        "fields": {"recur_tier": "tier"},
        "list": f"Recur: {audience}",
        **extra,
    }
    return SyncSpec.from_declaration(audience, declaration)


def held_by_hand(audience, people, share):
    return {
        p
        for p in people
        if int(hashlib.md5(f"{audience}\x1f{p}\x1f".encode()).hexdigest()[:15], 16) < share * 16**15
    }


def make_audience(con, audience, ids):
    con.execute("create schema if not exists audiences")
    con.execute(
        f"""create or replace table audiences.{audience} as
            select 'u' || i as user_id,
                   case when i = 7 then 'not an address' else 'p' || i || '@Example.com' end
                       as email,
                   'gold' as tier
            from unnest(?::int[]) t(i)""",
        [list(ids)],
    )


def run(con, state_path, the_spec, dest, **kwargs):
    with StateStore(state_path) as state:
        return run_sync(
            the_spec, warehouse=con, state=state, destination=dest, policy=FAST, **kwargs
        )


def deliveries(con, where="true"):
    return con.execute(
        f"select * from raw.audience_deliveries where {where} order by event_at, key"
    ).df()


def test_history_lands_in_the_warehouse_with_groups_reasons_and_exits(tmp_path):
    con = connect(tmp_path / "warehouse.duckdb")
    state_path = tmp_path / "state.duckdb"
    make_audience(con, "aud_hist", range(200))
    the_spec = spec("aud_hist", holdout={"share": 0.2})
    dest = MemoryDestination()
    dest.refuse["p3@example.com"] = "Property values were not valid: recur_tier"
    first = run(con, state_path, the_spec, dest)

    copied = copy_deliveries(state_path, con)
    assert copied["runs"] == 1 and copied["rows"] == copied["total_rows"]
    # Copying again adds nothing: each run is copied once, whole.
    assert copy_deliveries(state_path, con)["rows"] == 0

    people = [f"u{i}" for i in range(200) if i != 7]  # u7's address is invalid: never a member
    held = held_by_hand("aud_hist", people, 0.2)
    assert 25 <= len(held) <= 55  # 20% of 199, by the hash
    sent = {f"u{k[1:].split('@')[0]}" for k in dest.records}
    assert sent == set(people) - held - {"u3"}
    assert first.counts["held_out"] == len(held)

    d = deliveries(con)
    assert set(d["run_id"]) == {first.run_id}
    assert set(d["audience"]) == {"aud_hist"} and set(d["destination"]) == {"memory"}
    by_event = {e: set(g["person_id"]) for e, g in d.groupby("event")}
    assert by_event["held_out"] == held
    assert by_event["entered"] == sent | held  # u3 was refused: not a member yet
    entered = d[d["event"] == "entered"]
    assert set(entered.loc[entered["held_out"], "person_id"]) == held
    # A sent person has a write and a list addition confirmed.
    assert set(d.loc[(d["event"] == "sent") & (d["operation"] == "add"), "person_id"]) == sent
    assert set(d.loc[(d["event"] == "sent") & (d["operation"] == "list_add"), "person_id"]) == sent
    refused = d[d["event"] == "refused"].set_index("key")
    assert refused.loc["p3@example.com", "reason"] == "Property values were not valid: recur_tier"
    assert refused.loc["p3@example.com", "person_id"] == "u3"
    assert refused.loc["not an address", "reason"] == "invalid email address"
    assert refused.loc["not an address", "person_id"] == "u7"

    # Ten people leave (five of each group where the hash allows), five new ones arrive.
    leavers = sorted(held)[:5] + sorted(sent)[:5]
    stay = [i for i in range(200) if f"u{i}" not in leavers]
    make_audience(con, "aud_hist", stay + list(range(200, 205)))
    second = run(con, state_path, the_spec, dest)
    assert copy_deliveries(state_path, con)["runs"] == 1
    d2 = deliveries(con, f"run_id = '{second.run_id}'")
    exited = d2[d2["event"] == "exited"].set_index("person_id")
    assert set(exited.index) == set(leavers)
    assert {p for p in leavers if exited.loc[p, "held_out"]} == set(sorted(held)[:5])
    newcomers = {f"u{i}" for i in range(200, 205)}
    assert set(d2.loc[d2["event"] == "entered", "person_id"]) == newcomers
    con.close()


def test_frequency_cap_defers_people_contacted_lately_in_both_groups(tmp_path):
    con = connect(tmp_path / "warehouse.duckdb")
    state_path = tmp_path / "state.duckdb"
    make_audience(con, "aud_first", range(0, 40))
    first_dest = MemoryDestination()
    run(con, state_path, spec("aud_first", holdout={"share": 0.25}), first_dest)
    first_held = held_by_hand("aud_first", [f"u{i}" for i in range(40) if i != 7], 0.25)

    # The second audience overlaps the first on u20..u39 and has u40..u59 of its own.
    make_audience(con, "aud_second", range(20, 60))
    capped_spec = spec("aud_second", holdout={"share": 0.5}, frequency_cap={"days": 7})
    dest = MemoryDestination()
    dry = run(con, state_path, capped_spec, dest, dry_run=True)
    contacted = {f"u{i}" for i in range(20, 40)} - first_held  # held out is not contacted
    assert dry.counts["capped"] == len(contacted)
    assert "  c p2" in describe_dry_run(dry) and "frequency cap: 7 days" in describe_dry_run(dry)

    # A cap that counts only the sends of other syncs caps nobody here.
    scoped = spec("aud_second", frequency_cap={"days": 7, "syncs": ["aud_other_to_memory"]})
    assert run(con, state_path, scoped, MemoryDestination(), dry_run=True).counts["capped"] == 0
    scoped = spec("aud_second", frequency_cap={"days": 7, "syncs": ["aud_first_to_memory"]})
    assert run(con, state_path, scoped, dest, dry_run=True).counts["capped"] == len(contacted)

    result = run(con, state_path, capped_spec, dest)
    assert result.counts["capped"] == len(contacted)
    second_held = held_by_hand("aud_second", [f"u{i}" for i in range(20, 60)], 0.5)
    reached = {f"u{k[1:].split('@')[0]}" for k in dest.records}
    # Capped people are in neither group this run; the others split by the hash.
    assert reached == {f"u{i}" for i in range(20, 60)} - contacted - second_held
    with StateStore(state_path) as state:
        members = state.records("aud_second_to_memory")
        log = state.con.execute("select key, reason from row_log where outcome = 'capped'").df()
    assert not ({f"p{p[1:]}@example.com" for p in contacted} & set(members["key"]))
    assert log["reason"].str.contains("by aud_first_to_memory").all()

    # A week later the cap no longer applies: the deferred people enter now, in their groups.
    with StateStore(state_path) as state:
        state.con.execute("update membership_events set event_at = event_at - interval 8 day")
    later = run(con, state_path, capped_spec, dest)
    assert later.counts["capped"] == 0
    reached = {f"u{k[1:].split('@')[0]}" for k in dest.records}
    assert reached == {f"u{i}" for i in range(20, 60)} - second_held
    assert later.counts["held_out"] == len(second_held)

    copy_deliveries(state_path, con)
    capped_rows = deliveries(con, "event = 'capped'")
    assert set(capped_rows["person_id"]) == contacted
    assert set(capped_rows["sync"]) == {"aud_second_to_memory"}
    con.close()


def test_copy_waits_for_a_running_sync_and_handles_no_state(tmp_path):
    con = connect(tmp_path / "warehouse.duckdb")
    assert copy_deliveries(tmp_path / "missing.duckdb", con) == {
        "rows": 0, "runs": 0, "total_rows": 0, "total_runs": 0
    }  # fmt: skip
    con.close()
    # Another process holds the state file, as a running sync does.
    import subprocess
    import sys
    import time

    state_path = tmp_path / "state.duckdb"
    StateStore(state_path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(state_path)!r}); print('ok', flush=True);"
         " time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ok"
        con = connect(tmp_path / "warehouse.duckdb")
        with pytest.raises(StateBusy, match="in use by another process"):
            copy_deliveries(state_path, con)
        con.close()
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    con = connect(tmp_path / "warehouse.duckdb")
    assert copy_deliveries(state_path, con)["rows"] == 0
    con.close()


@pytest.mark.parametrize(
    "cap",
    [{"days": 0}, {"days": "7"}, {"weeks": 1}, 7, {"days": True}, {"days": 7, "syncs": "a_to_b"}],
)
def test_a_bad_frequency_cap_is_a_clear_error(cap):
    with pytest.raises(SyncConfigError, match="frequency_cap: must be"):
        spec("aud_x", frequency_cap=cap)


def test_the_state_of_an_older_recur_gets_the_people_table(tmp_path):
    state_path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(state_path))
    old.execute(
        "create table runs (run_id varchar, sync varchar, audience varchar, destination varchar,"
        " dry_run boolean, status varchar, started_at timestamp)"
    )
    old.close()
    con = connect(tmp_path / "warehouse.duckdb")
    assert copy_deliveries(state_path, con)["rows"] == 0
    con.close()


def test_a_file_snapshot_counts_as_sent_only_for_the_rows_that_changed(tmp_path):
    from syncs.destinations.file import FileDestination

    con = connect(tmp_path / "warehouse.duckdb")
    state_path = tmp_path / "state.duckdb"
    make_audience(con, "aud_file", range(10))
    the_spec = SyncSpec.from_declaration(
        "aud_file",
        {
            "destination": "file",
            "match_key": "user_id",
            "fields": {"tier": "tier"},
            "format": "csv",
        },
    )
    run(con, state_path, the_spec, FileDestination(tmp_path / "files"))
    con.execute("update audiences.aud_file set tier = 'silver' where user_id = 'u4'")
    second = run(con, state_path, the_spec, FileDestination(tmp_path / "files"))
    copy_deliveries(state_path, con)
    first_sent = deliveries(con, f"event = 'sent' and run_id <> '{second.run_id}'")
    assert len(first_sent) == 10 and set(first_sent["operation"]) == {"add"}
    # The second snapshot rewrote all ten rows; only u4 changed, so only u4 was sent.
    sent = deliveries(con, f"event = 'sent' and run_id = '{second.run_id}'")
    assert sent[["person_id", "operation"]].values.tolist() == [["u4", "change"]]
    con.close()
