"""Fault tests: the engine and the real hubspot-api-client against the HubSpot sandbox.

Every test checks what arrived in the sandbox: each member once, with the right properties
and list memberships, whatever the server threw at the client.
"""

from __future__ import annotations

import functools
import time

import pytest

from sandbox.servers.hubspot import SANDBOX_HUBSPOT_TOKEN, HubSpotServer
from sandbox.servers.latency import Latency
from sandbox.servers.own_process import HubSpotProcess
from syncs.destinations.base import Row
from syncs.destinations.hubspot import HubSpotDestination, HubSpotSettings
from syncs.engine import RetryPolicy, run_sync
from syncs.errors import FatalError
from syncs.pacing import RateLimiter
from syncs.spec import SyncSpec
from tests.integration.destination_faults import kill_mid_run, make_audience, resume, run

UPSERT = "/crm/v3/objects/contacts/batch/upsert"
LIST = "Recur: Test"
SPEC = SyncSpec(
    "aud_test",
    "hubspot",
    "email",
    (("recur_tier", "tier"), ("recur_ltv", "ltv"), ("firstname", "first_name")),
    list=LIST,
)


def people(n, tier="low"):
    return [(f"p{i:05d}@example.com", tier, round(i * 1.5, 2), f"Name{i}") for i in range(n)]


def make_warehouse(path, rows):
    columns = "email varchar, tier varchar, ltv decimal(12, 2), first_name varchar"
    return make_audience(path, columns, rows)


@pytest.fixture
def server():
    with HubSpotServer() as s:
        yield s


@pytest.fixture
def warehouse(tmp_path):
    con = make_warehouse(tmp_path / "wh.duckdb", people(250))
    yield con
    con.close()


def destination(server, token=SANDBOX_HUBSPOT_TOKEN, timeout=30.0):
    settings = HubSpotSettings(access_token=token, base_url=server.url, timeout=timeout)
    return HubSpotDestination(settings, limiter=RateLimiter(190, 10.0))


def sync(server, warehouse, state, spec=SPEC, **kwargs):
    make = functools.partial(destination, server)
    return run(spec, make, warehouse, state, options=("token", "timeout"), **kwargs)


def assert_arrived_once(server, rows, list_name=LIST):
    contacts = server.contacts()
    emails = [c["email"] for c in contacts]
    assert len(emails) == len(set(emails)), "duplicate contacts"
    by_email = {c["email"]: c["properties"] for c in contacts}
    for email, tier, ltv, first in rows:
        assert by_email[email]["recur_tier"] == tier
        assert float(by_email[email]["recur_ltv"]) == pytest.approx(float(ltv))
        assert by_email[email]["firstname"] == first
    assert server.list_members(list_name) == {r[0] for r in rows}


def test_first_sync_creates_properties_list_and_contacts(server, warehouse, state):
    result = sync(server, warehouse, state)
    assert result.status == "success"
    assert result.counts["delivered"] == 250 and result.counts["throttled"] == 0
    assert_arrived_once(server, people(250))
    assert server.property("recur_ltv")["type"] == "number"
    # 3 upserts + 3 list adds + property read/creates + list lookup/create
    assert len(server.calls(UPSERT)) == 3
    records = state.records(SPEC.name)
    assert records["record_id"].notna().all() and records["created_by_sync"].all()


def test_rerun_with_nothing_changed_sends_no_request(server, warehouse, state):
    sync(server, warehouse, state)
    before = len(server.requests)
    result = sync(server, warehouse, state)
    assert result.status == "unchanged" and result.counts["requests"] == 0
    assert len(server.requests) == before


def test_a_429_storm_is_ridden_out(warehouse, state):
    # A 429 says the window is full: the client waits for it to roll (1 s here, 10 s at HubSpot).
    with HubSpotServer(rate_interval=1.0) as server:
        server.script(UPSERT, [429, 429, 429, 200, 429, 200])
        result = sync(server, warehouse, state)
        assert result.status == "success"
        assert result.counts["throttled"] == 4 and result.counts["retries"] == 4
        assert_arrived_once(server, people(250))
        assert len(server.calls(UPSERT)) == 3 + 4


def test_server_errors_are_retried(server, warehouse, state):
    server.script(UPSERT, [500, 502, 200, 503])
    server.script("/crm/v3/lists/", [504])
    result = sync(server, warehouse, state)
    assert result.status == "success" and result.counts["retries"] == 4
    assert_arrived_once(server, people(250))


def test_a_timed_out_write_is_sent_again_without_duplicates(server, warehouse, state):
    server.delay(UPSERT, 1.0, count=1)
    result = sync(server, warehouse, state, timeout=0.3)
    assert result.status == "success" and result.counts["retries"] == 1
    assert_arrived_once(server, people(250))
    assert server.writes("p00000@example.com") in (1, 2)  # the slow answer may have applied


def test_locked_records_wait_and_retry(server, warehouse, state):
    server.script(UPSERT, [423])
    started = time.perf_counter()
    result = sync(server, warehouse, state)
    assert time.perf_counter() - started >= 2.0  # HubSpot's locks last 2 s
    assert result.status == "success" and result.counts["retries"] == 1
    assert_arrived_once(server, people(250))


def test_an_address_hubspot_rejects_is_isolated_by_splitting(server, warehouse, state, tmp_path):
    rows = people(250)
    rows[42] = ("ada@example.notatld", "low", 1.0, "Ada")  # valid syntax, no such TLD
    warehouse.close()
    warehouse = make_warehouse(tmp_path / "wh.duckdb", rows)
    result = sync(server, warehouse, state)
    assert result.status == "partial"
    assert result.counts["delivered"] == 249 and result.counts["rejected"] == 1
    assert server.contact("ada@example.notatld") is None
    rejected = state.rejections(SPEC.name)
    assert rejected["key"].tolist() == ["ada@example.notatld"]
    assert (
        "INVALID_EMAIL" in rejected["reason"].iloc[0] or "not valid" in rejected["reason"].iloc[0]
    )
    # split only the batch holding it: ceil(log2(100)) levels, 2 calls each, at most
    assert len(server.calls(UPSERT)) <= 3 + 2 * 7
    # still dirty: the next run tries that row again, and only it
    n = len(server.calls(UPSERT))
    again = sync(server, warehouse, state)
    assert again.counts["rejected"] == 1 and len(server.calls(UPSERT)) == n + 1


def test_per_record_errors_are_mapped_by_id_not_position(server, warehouse, state, tmp_path):
    # An enumeration property: a value outside its options fails that record only (207).
    sync(server, warehouse, state)
    server.set_property_options("recur_tier", ["low", "mid", "high"])
    rows = people(250)
    rows[10] = (rows[10][0], "vip", rows[10][2], rows[10][3])
    rows[11] = (rows[11][0], "high", rows[11][2], rows[11][3])
    warehouse.close()
    warehouse = make_warehouse(tmp_path / "wh.duckdb", rows)
    result = sync(server, warehouse, state)
    assert (result.counts["delivered"], result.counts["rejected"]) == (1, 1)
    assert server.contact("p00011@example.com")["properties"]["recur_tier"] == "high"
    assert server.contact("p00010@example.com")["properties"]["recur_tier"] == "low"
    assert state.rejections(SPEC.name)["key"].tolist() == ["p00010@example.com"]


def test_daily_limit_stops_the_run_and_the_next_run_finishes(server, warehouse, state):
    server.script(UPSERT, [200, "daily"])
    with pytest.raises(FatalError, match="daily"):
        sync(server, warehouse, state)
    # The batches in flight beside the refused one (100 + 100 or 100 + 50 rows) are committed.
    committed = len(state.records(SPEC.name))
    assert committed in (150, 200)
    result = sync(server, warehouse, state)
    assert result.counts["added"] == 250 - committed
    assert_arrived_once(server, people(250))


def test_a_bad_token_stops_the_run_without_leaking_it(server, warehouse, state):
    with pytest.raises(FatalError) as failure:
        sync(server, warehouse, state, token="pat-secret-value")
    assert "HUBSPOT_ACCESS_TOKEN" in str(failure.value)
    assert "pat-secret-value" not in str(failure.value)
    assert (
        "pat-secret-value"
        not in state.con.execute("select string_agg(error, '') from runs").fetchone()[0]
    )


def test_leavers_are_removed_from_the_list_and_mirror_archives_only_its_own(
    server, warehouse, state, tmp_path
):
    spec = SyncSpec(
        "aud_test", "hubspot", "email", (("recur_tier", "tier"),), mode="mirror", list=LIST
    )
    # p00001 existed in HubSpot before Recur: mirror must never delete it.
    client_dest = destination(server)
    client_dest.open(spec, [])
    client_dest.write(
        spec,
        [Row("p00001@example.com", {})],
        create=True,
    )
    sync(server, warehouse, state, spec)
    warehouse.close()
    warehouse = make_warehouse(tmp_path / "wh.duckdb", people(250)[5:])
    result = sync(server, warehouse, state, spec)
    assert result.counts["removed"] == 5
    assert server.list_members(LIST) == {r[0] for r in people(250)[5:]}
    remaining = {c["email"] for c in server.contacts()}
    assert "p00001@example.com" in remaining
    assert not {"p00000@example.com", "p00002@example.com"} & remaining
    exited = state.events(spec.name).query("event == 'exited'")["key"].tolist()
    assert sorted(exited) == [f"p{i:05d}@example.com" for i in range(5)]


def test_update_mode_enriches_existing_contacts_only(server, warehouse, state):
    spec = SyncSpec("aud_test", "hubspot", "email", (("recur_tier", "tier"),), mode="update")
    existing = destination(server)
    existing.open(spec, [])
    existing.write(spec, [Row(f"p{i:05d}@example.com", {}) for i in range(3)], create=True)
    result = sync(server, warehouse, state, spec)
    assert (result.counts["delivered"], result.counts["rejected"]) == (3, 247)
    assert len(server.contacts()) == 3
    reasons = set(state.rejections(spec.name)["reason"])
    assert reasons == {"no HubSpot contact has this email (mode update never creates contacts)"}


def test_pacing_follows_the_servers_headers(tmp_path, state):
    # A server allowing 10 requests per second: the limiter learns it from the first answer and
    # uses all of it (no headroom). The server runs in its own process, as HubSpot does: in ours
    # it counted requests only once its threads got the interpreter lock from the sync's 16,
    # up to 0.5 s late on a loaded machine (429s the real API would not send).
    with HubSpotProcess(rate_limit=10, rate_interval=1.0) as server:
        con = make_warehouse(tmp_path / "w.duckdb", people(2500))
        started = time.perf_counter()
        result = sync(server, con, state)
        seconds = time.perf_counter() - started
    assert result.status == "success" and result.counts["throttled"] == 0
    requests = result.counts["requests"]  # 25 upserts + 25 list adds + setup
    assert requests >= 50 and seconds >= (requests - 10) / 10 * 0.9


def test_with_latency_batches_go_out_together_and_each_contact_arrives_once(tmp_path, state):
    # HubSpot answers in a few hundred ms: one batch at a time would use a tenth of the limit.
    rows = people(2000)
    con = make_warehouse(tmp_path / "w.duckdb", rows)
    with HubSpotServer(latency=Latency(median=0.2, p99=0.6, seed=1)) as server:
        started = time.perf_counter()
        result = sync(server, con, state, concurrency=8)
        seconds = time.perf_counter() - started
        assert result.status == "success" and result.counts["throttled"] == 0
        assert all(r.status != 429 for r in server.requests)
        assert_arrived_once(server, rows)
        assert all(server.writes(r[0]) == 1 for r in rows)
        assert server.max_in_flight == 8
    # The sandbox drew one delay per request from the seeded generator: one request at a time,
    # the run would have waited their sum (45 requests, 10.1 s; it took 12.4 s, and 3.6-4.4 s
    # with 8 in flight, 1.2 s of which are the 5 setup calls that go one by one). The margin
    # is for a loaded machine; the number in flight above is the exact check.
    latency = Latency(median=0.2, p99=0.6, seed=1)
    one_at_a_time = sum(latency.sample() for _ in range(result.counts["requests"]))
    assert seconds < one_at_a_time / 1.5


def killable_destination(url):
    """The destination of the sync test_killed_mid_run... runs in a process of its own."""
    return HubSpotDestination(HubSpotSettings(access_token=SANDBOX_HUBSPOT_TOKEN, base_url=url))


def test_killed_mid_run_and_resumed_every_member_arrives_once(server, tmp_path):
    rows = people(1500)
    make_warehouse(tmp_path / "wh.duckdb", rows).close()
    server.delay(UPSERT, 0.15, count=1000)  # slow enough to kill it half way
    concurrency = 4
    kill_mid_run(
        "tests.integration.test_hubspot_sync",
        server.url,
        tmp_path,
        lambda: len(server.calls(UPSERT)),
        concurrency=concurrency,
    )
    assert 0 < len(server.contacts()) < 1500
    server.delay(UPSERT, 0, count=0)
    committed, result = resume(tmp_path, SPEC.name, lambda con, st: sync(server, con, st))
    assert result.status == "success"
    assert result.counts["added"] == 1500 - committed
    assert_arrived_once(server, rows)
    twice = [r[0] for r in rows if server.writes(r[0]) > 1]
    # at most the batches in flight (applied, not yet answered) were sent again
    assert len(twice) <= concurrency * 100


@pytest.fixture
def silent_hubspot():
    """A HubSpot that accepts connections and never answers: a socket that listens, and no one
    reads it (the kernel completes the handshakes on its own)."""
    import socket

    from syncs.engine import OUTAGES

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    OUTAGES.clear()


def test_a_silent_hubspot_fails_the_first_sync_within_max_wait_and_the_rest_at_once(
    silent_hubspot, warehouse, state
):
    settings = HubSpotSettings(
        access_token=SANDBOX_HUBSPOT_TOKEN, base_url=silent_hubspot, timeout=0.5
    )
    policy = RetryPolicy(max_attempts=6, base_delay=0.1, max_wait=2.0)
    seconds = []
    for n in range(5):
        spec = SyncSpec("aud_test", "hubspot", "email", SPEC.fields, list=LIST, name=f"sync_{n}")
        started = time.perf_counter()
        with pytest.raises(FatalError) as failed:
            run_sync(
                spec,
                warehouse=warehouse,
                state=state,
                destination=lambda: HubSpotDestination(settings, limiter=RateLimiter(190, 10.0)),
                policy=policy,
            )
        seconds.append(time.perf_counter() - started)
        assert ("gave up after" if n == 0 else "did not answer an earlier sync") in str(
            failed.value
        )
    # 0.5 s time-outs and 0.1, 0.2, 0.4 s pauses: the 3rd attempt ends at 1.7 s, and a 4th
    # (0.8 s pause + 0.5 s) would pass the 2 s bound, so the run gives up there
    assert 1.5 < seconds[0] < 2.5
    assert max(seconds[1:]) < 0.5
    runs = state.runs(limit=10).sort_values("sync")
    assert runs["status"].tolist() == ["failed"] * 5
    assert runs["duration_seconds"].tolist() == pytest.approx(seconds, abs=0.1)
