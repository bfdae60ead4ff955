"""Holdout groups (issue 15, item 1): a share of an audience's people is kept out of the
destination, recorded like the members who were sent, and never sent; the groups are stable and
independent between audiences.

The expected groups are computed here with Python's hashlib from the documented rule (MD5 of
audience, person and salt joined by U+001F; its first 15 hex digits below share * 16**15), not by
the SQL the sync uses. What reached HubSpot is read from the sandbox.
"""

from __future__ import annotations

import hashlib
import json

import duckdb
import pytest

from orchestration.demo import hubspot_holdout
from orchestration.sync_report import describe_dry_run
from sandbox.servers.hubspot import SANDBOX_HUBSPOT_TOKEN, HubSpotServer
from syncs.audience import read_audience
from syncs.destinations.file import FileDestination
from syncs.destinations.hubspot import HubSpotDestination, HubSpotSettings
from syncs.engine import RetryPolicy, run_sync
from syncs.errors import SyncConfigError
from syncs.pacing import RateLimiter
from syncs.spec import SyncSpec
from syncs.state import StateStore

LIST = "Recur: Holdout test"
FAST = RetryPolicy(max_attempts=5, base_delay=0.01)


def spec(share=0.2, audience="aud_hold", **extra):
    declaration = {
        "destination": "hubspot",
        "match_key": "email",
        "fields": {"recur_tier": "tier"},
        "list": LIST,
        "holdout": {"share": share, **extra},
    }
    return SyncSpec.from_declaration(audience, declaration)


def held_by_hand(audience, people, share, salt=""):
    """The people in the holdout by the documented rule, with hashlib."""
    return {
        p
        for p in people
        if int(hashlib.md5(f"{audience}\x1f{p}\x1f{salt}".encode()).hexdigest()[:15], 16)
        < share * 16**15
    }


def make_audience(con, n, audience="aud_hold", start=0):
    con.execute("create schema if not exists audiences")
    con.execute(
        f"create or replace table audiences.{audience} as select 'u' || i as user_id, "
        "'p' || i || '@Example.com' as email, case when i % 2 = 0 then 'gold' else 'silver' end "
        f"as tier from range({start}, {n}) t(i)"
    )


def email_of(user_id):
    return f"p{user_id[1:]}@example.com"


@pytest.fixture
def server():
    with HubSpotServer() as s:
        yield s


def sync(server, con, state, the_spec, **kwargs):
    settings = HubSpotSettings(
        access_token=SANDBOX_HUBSPOT_TOKEN, base_url=server.url, timeout=30.0
    )
    return run_sync(
        the_spec,
        warehouse=con,
        state=state,
        destination=lambda: HubSpotDestination(settings, limiter=RateLimiter(190, 10.0)),
        policy=FAST,
        **kwargs,
    )


def test_the_holdout_never_reaches_hubspot_and_is_recorded_like_the_sent(server, tmp_path):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    make_audience(con, 1000)
    people = {f"u{i}" for i in range(1000)}
    held = held_by_hand("aud_hold", people, 0.2)
    assert 150 < len(held) < 250  # binomial(1000, 0.2): 200 +/- 4 sd
    emails_held = {email_of(p) for p in held}
    the_spec = spec()
    with StateStore(tmp_path / "state.duckdb") as state:
        dry = sync(server, con, state, the_spec, dry_run=True)
        assert dry.status == "dry_run" and server.requests == []
        assert dry.counts["held_out"] == len(held) and dry.counts["added"] == 1000 - len(held)
        assert f"{len(held):,} held out" in dry.summary()
        shown = [line for line in describe_dry_run(dry).splitlines() if line.startswith("  h ")]
        assert len(shown) == 5 and all(line.split()[1][:-1] in emails_held for line in shown)

        result = sync(server, con, state, the_spec)
        assert result.status == "success"
        assert result.counts["held_out"] == len(held)
        assert result.counts["delivered"] == 1000 - len(held)
        sent = {email_of(p) for p in people - held}
        assert {c["email"] for c in server.contacts()} == sent
        assert server.list_members(LIST) == sent
        # the demo's check (make demo runs it on aud_win_back) agrees, and catches a planted one
        assert "none of them in" in hubspot_holdout(server, state, the_spec.name, LIST)

        class Planted:
            def list_members(self, name):
                return sent | {sorted(emails_held)[0]}

        with pytest.raises(AssertionError, match="held-out members"):
            hubspot_holdout(Planted(), state, the_spec.name, LIST)
        records = state.records(the_spec.name).set_index("key")
        assert set(records.index[records["held_out"]]) == {email_of(p) for p in held}
        assert records.loc[records["held_out"], "record_id"].isna().all()
        assert records["member"].all()
        entered = state.events(the_spec.name)
        assert len(entered) == 1000 and set(entered["event"]) == {"entered"}
        assert set(entered.loc[entered["held_out"], "key"]) == {email_of(p) for p in held}

        # nothing changed: nothing sent, nothing recorded again
        again = sync(server, con, state, the_spec)
        assert again.status == "unchanged" and again.counts["requests"] == 0
        assert again.counts["held_out"] == len(held)

        # ten people leave, some of each group: only the sent ones cost HubSpot calls
        leaving = sorted(held)[:5] + sorted(people - held)[:5]
        con.execute(
            "delete from audiences.aud_hold where user_id in (select unnest($l))", {"l": leaving}
        )
        calls_before = len(server.requests)
        left = sync(server, con, state, the_spec)
        assert left.counts["removed"] == 10
        sent_leaving = {email_of(p) for p in leaving if p not in held}
        assert server.list_members(LIST) == sent - sent_leaving
        removals = [r for r in server.requests[calls_before:] if "memberships/remove" in r.path]
        assert sum(len(json.loads(r.body)) for r in removals) == len(sent_leaving)
        writes = [r for r in server.requests[calls_before:] if r.method != "GET"]
        assert writes == removals  # besides reading its properties and list, nothing else
        exits = state.events(the_spec.name).query("event == 'exited'")
        assert set(exits["key"]) == {email_of(p) for p in leaving}
        assert set(exits.loc[exits["held_out"], "key"]) == {
            email_of(p) for p in leaving if p in held
        }


def test_groups_are_stable_independent_between_audiences_and_follow_the_salt():
    con = duckdb.connect()
    n, share = 20_000, 0.1
    people = {f"u{i}" for i in range(n)}
    make_audience(con, n, "aud_a")
    make_audience(con, n, "aud_b")

    def held(audience, **extra):
        frame = read_audience(con, spec(share, audience, **extra)).frame
        return {f"u{k[1:].split('@')[0]}" for k in frame.loc[frame["held_out"], "key"]}

    a, b, salted = held("aud_a"), held("aud_b"), held("aud_a", salt="spring")
    assert a == held_by_hand("aud_a", people, share) == held("aud_a")
    assert b == held_by_hand("aud_b", people, share)
    assert salted == held_by_hand("aud_a", people, share, salt="spring")
    for group in (a, b, salted):
        assert 1_800 < len(group) < 2_200  # 2,000 +/- 4.7 sd
    # independent: the overlap of two 10% groups is about 1% of people (200 +/- 14)
    assert 140 < len(a & b) < 260 and 140 < len(a & salted) < 260


def test_a_member_keeps_the_group_they_entered_with_when_the_share_changes(server, tmp_path):
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    make_audience(con, 300)
    with StateStore(tmp_path / "state.duckdb") as state:
        sync(server, con, state, spec(0.2))
        first = {c["email"] for c in server.contacts()}
        make_audience(con, 600)  # 300 more people enter
        result = sync(server, con, state, spec(0.5))
        assert result.counts["removed"] == 0
        contacts = {c["email"] for c in server.contacts()}
        assert first <= contacts  # nobody who was sent is taken back
        newcomers = {f"u{i}" for i in range(300, 600)}
        assert contacts - first == {
            email_of(p) for p in newcomers - held_by_hand("aud_hold", newcomers, 0.5)
        }
        expected_held = held_by_hand("aud_hold", {f"u{i}" for i in range(300)}, 0.2)
        expected_held |= held_by_hand("aud_hold", newcomers, 0.5)
        assert result.counts["held_out"] == len(expected_held)


def test_a_file_audience_leaves_the_holdout_out(tmp_path):
    con = duckdb.connect()
    make_audience(con, 200)
    the_spec = SyncSpec.from_declaration(
        "aud_hold",
        {
            "destination": "file",
            "match_key": "user_id",
            "fields": {"user_id": "user_id", "tier": "tier"},
            "holdout": {"share": 0.3, "salt": 7},
        },
    )
    with StateStore(tmp_path / "state.duckdb") as state:
        result = run_sync(
            the_spec, warehouse=con, state=state, destination=FileDestination(tmp_path)
        )
        written = FileDestination(tmp_path).path(the_spec)
        keys = {r[0] for r in duckdb.sql(f"select user_id from read_csv('{written}')").fetchall()}
    people = {f"u{i}" for i in range(200)}
    held = held_by_hand("aud_hold", people, 0.3, salt="7")
    assert keys == people - held and result.counts["held_out"] == len(held) > 0


@pytest.mark.parametrize(
    "holdout, message",
    [
        ({"share": 1.5}, "share must be a number between 0 and 1"),
        ({"share": 0}, "share must be a number between 0 and 1"),
        ({"salt": "x"}, "must be a mapping with a share"),
        ({"share": 0.1, "size": 3}, "unknown keys ['size']"),
    ],
)
def test_a_bad_holdout_declaration_is_named(holdout, message):
    with pytest.raises(SyncConfigError, match=None) as error:
        SyncSpec.from_declaration(
            "aud_x", {"destination": "file", "match_key": "email", "holdout": holdout}
        )
    assert message in str(error.value) and "aud_x" in str(error.value)


def test_an_audience_without_the_person_column_is_named():
    con = duckdb.connect()
    con.execute("create schema audiences; create table audiences.aud_x as select 'a@b.co' as email")
    the_spec = SyncSpec.from_declaration(
        "aud_x", {"destination": "file", "match_key": "email", "holdout": {"share": 0.1}}
    )
    with pytest.raises(SyncConfigError, match="no column.*user_id"):
        read_audience(con, the_spec)
