"""Fault tests: the engine and the Braze destination against the Braze sandbox.

The same faults the HubSpot destination is tested against (tests/integration/
test_hubspot_sync.py), with Braze's answers: 429 with ``X-RateLimit-*``, 5xx, 201 with minor
errors, 400, 401, a kill mid-run. Every test checks what arrived in the sandbox: each member
once, with the right attributes and the audience in ``recur_audiences``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import time

import pytest
import urllib3

from sandbox.servers.braze import SANDBOX_BRAZE_API_KEY, TRACK, BrazeServer
from syncs.destinations.braze import BrazeDestination, BrazeSettings
from syncs.errors import FatalError, NotConfigured, SyncConfigError
from syncs.pacing import RateLimiter
from syncs.spec import SyncSpec
from tests.integration.destination_faults import kill_mid_run, make_audience, resume, run

LIST = "aud_test"
FIELDS = (
    ("email", "email"),
    ("recur_tier", "tier"),
    ("recur_ltv", "ltv"),
    ("first_name", "first_name"),
)
SPEC = SyncSpec("aud_test", "braze", "user_id", FIELDS, list=LIST)


def people(n, tier="low"):
    return [
        (f"u{i:05d}", f"p{i:05d}@example.com", tier, round(i * 1.5, 2), f"Name{i}")
        for i in range(n)
    ]


def make_warehouse(path, rows):
    columns = "user_id varchar, email varchar, tier varchar, ltv decimal(12, 2), first_name varchar"
    return make_audience(path, columns, rows)


@pytest.fixture
def server():
    """A Braze sandbox with Braze's default limits."""
    with BrazeServer() as braze:
        yield braze


@pytest.fixture
def warehouse(tmp_path):
    """250 people in audiences.aud_test."""
    with contextlib.closing(make_warehouse(tmp_path / "wh.duckdb", people(250))) as con:
        yield con


def destination(server, key=SANDBOX_BRAZE_API_KEY, timeout=30.0, limiter=None):
    settings = BrazeSettings(api_key=key, rest_url=server.url, timeout=timeout)
    return BrazeDestination(settings, limiter=limiter or RateLimiter(3000, 3.0))


def sync(server, warehouse, state, spec=SPEC, **kwargs):
    make = functools.partial(destination, server)
    return run(spec, make, warehouse, state, options=("key", "timeout", "limiter"), **kwargs)


def assert_arrived_once(server, rows, audience=LIST):
    users = server.users()
    ids = [u["external_id"] for u in users]
    assert len(ids) == len(set(ids)), "duplicate profiles"
    by_id = {u["external_id"]: u for u in users}
    for user_id, email, tier, ltv, first in rows:
        attributes = by_id[user_id]["attributes"]
        assert by_id[user_id]["email"] == email
        assert attributes["recur_tier"] == tier
        assert attributes["recur_ltv"] == pytest.approx(float(ltv))
        assert attributes["first_name"] == first
    assert server.members(audience) == {r[0] for r in rows}


def track_bodies(server):
    return [json.loads(r.body) for r in server.calls(TRACK)]


def post(server, body, key=SANDBOX_BRAZE_API_KEY):
    return urllib3.PoolManager().request(
        "POST",
        server.url + TRACK,
        body=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


def test_first_sync_writes_attributes_and_the_audience_array(server, warehouse, state):
    result = sync(server, warehouse, state)
    assert result.status == "success"
    assert result.counts["delivered"] == 250 and result.counts["throttled"] == 0
    assert_arrived_once(server, people(250))
    # 250 rows: 4 requests of at most 75 attribute objects, then 4 adding the audience
    assert result.counts["requests"] == server.track_requests() == 8
    assert all(len(body["attributes"]) <= 75 for body in track_bodies(server))
    assert server.user("u00001")["attributes"]["recur_ltv"] == 1.5  # a number, not text
    records = state.records(SPEC.name)
    assert (records["record_id"] == records["key"]).all()  # the identifier is the record id


def test_rerun_with_nothing_changed_sends_no_request(server, warehouse, state):
    sync(server, warehouse, state)
    before = server.track_requests()
    result = sync(server, warehouse, state)
    assert result.status == "unchanged" and result.counts["requests"] == 0
    assert server.track_requests() == before


def test_a_429_waits_until_the_window_resets(warehouse, state):
    # Braze says when its window ends (X-RateLimit-Reset, epoch seconds): no request may come
    # back before that moment. One batch in flight, so every request follows the answer before.
    with BrazeServer(rate_interval=1.0) as server:
        server.script(TRACK, [429, 429, 200, 429])
        result = sync(server, warehouse, state, concurrency=1)
        assert result.status == "success"
        assert result.counts["throttled"] == 3 and result.counts["retries"] == 3
        assert_arrived_once(server, people(250))
        answers = server.answers
        throttled = [i for i, (_, status, _) in enumerate(answers) if status == 429]
        assert len(throttled) == 3
        for i in throttled:
            reset = answers[i][2]
            assert reset is not None and answers[i + 1][0] >= reset


def test_pacing_learns_the_limit_from_the_headers(tmp_path, state):
    # A workspace allowed 10 requests per 3 s: the limiter starts at Braze's default (3,000)
    # and takes the limit from the first answer's X-RateLimit-Limit.
    limiter = RateLimiter(3000, 3.0)
    with BrazeServer(rate_limit=10, rate_interval=3.0) as server:
        con = make_warehouse(tmp_path / "w.duckdb", people(600))
        started = time.perf_counter()
        result = sync(server, con, state, limiter=limiter, concurrency=4)
        seconds = time.perf_counter() - started
        assert_arrived_once(server, people(600))
    assert result.status == "success" and result.counts["throttled"] == 0
    assert limiter.limit == 10
    # 8 writes + 8 audience additions: the last 6 wait for the next window
    assert result.counts["requests"] == 16 and seconds >= 2.5


def test_server_errors_are_retried(server, warehouse, state):
    server.script(TRACK, [500, 502, 200, 503])
    result = sync(server, warehouse, state)
    assert result.status == "success" and result.counts["retries"] == 3
    assert_arrived_once(server, people(250))


def test_a_timed_out_request_is_sent_again_without_duplicates(server, warehouse, state):
    server.delay(TRACK, 1.0, count=1)
    result = sync(server, warehouse, state, timeout=0.3)
    assert result.status == "success" and result.counts["retries"] == 1
    assert_arrived_once(server, people(250))


def test_minor_errors_are_refused_with_brazes_reason_and_tried_again(
    server, warehouse, state, tmp_path
):
    rows = people(250)
    rows[42] = (*rows[42][:2], "x" * 300, *rows[42][3:])  # Braze: strings up to 255 characters
    warehouse.close()
    warehouse = make_warehouse(tmp_path / "wh.duckdb", rows)
    result = sync(server, warehouse, state)
    assert result.status == "partial"
    assert (result.counts["delivered"], result.counts["rejected"]) == (249, 1)
    assert server.user("u00042") is None  # a refused object is not applied at all
    rejected = state.rejections(SPEC.name)
    assert rejected["key"].tolist() == ["u00042"]
    assert (
        rejected["reason"].iloc[0] == "Braze: value of 'recur_tier' is longer than 255 characters"
    )
    assert server.track_requests() == 8  # the 201 answered the batch: nothing was split
    # Still dirty: the next run sends that row again, and only it.
    again = sync(server, warehouse, state)
    assert again.counts["rejected"] == 1 and server.track_requests() == 9
    assert [len(b["attributes"]) for b in track_bodies(server)][-1] == 1
    # Fixed in the warehouse: delivered, listed, and no longer a rejection.
    warehouse.close()
    warehouse = make_warehouse(tmp_path / "wh.duckdb", people(250))
    fixed = sync(server, warehouse, state)
    assert fixed.status == "success" and fixed.counts["delivered"] == 1
    assert state.rejections(SPEC.name).empty
    assert_arrived_once(server, people(250))


def test_a_400_naming_every_object_rejects_each_row_without_splitting(server, state, tmp_path):
    # When no object of a request is valid, Braze answers 400 with the same per-object errors.
    rows = [(*row[:4], "y" * 256) for row in people(3)]
    con = make_warehouse(tmp_path / "w.duckdb", rows)
    result = sync(server, con, state)
    assert (result.counts["delivered"], result.counts["rejected"]) == (0, 3)
    assert server.track_requests() == 1 and server.users() == []
    reasons = set(state.rejections(SPEC.name)["reason"])
    assert reasons == {"Braze: value of 'first_name' is longer than 255 characters"}


def test_a_400_without_details_is_split_until_it_passes(server, warehouse, state):
    server.script(TRACK, [400])
    result = sync(server, warehouse, state)
    assert result.status == "success" and result.counts["rejected"] == 0
    assert_arrived_once(server, people(250))
    assert [r.status for r in server.calls(TRACK)].count(400) == 1


def test_a_bad_key_stops_the_run_without_leaking_it(server, warehouse, state, caplog):
    with caplog.at_level(logging.DEBUG), pytest.raises(FatalError) as failure:
        sync(server, warehouse, state, key="braze-secret-value")
    assert "BRAZE_API_KEY" in str(failure.value) and "401" in str(failure.value)
    assert "braze-secret-value" not in str(failure.value)
    assert "braze-secret-value" not in caplog.text
    errors = state.con.execute("select string_agg(error, '') from runs").fetchone()[0]
    assert "BRAZE_API_KEY" in errors and "braze-secret-value" not in errors
    assert server.users() == [] and state.records(SPEC.name).empty


def test_more_than_75_objects_are_refused_like_braze(server):
    too_many = post(server, {"attributes": [{"external_id": f"u{i}"} for i in range(76)]})
    assert too_many.status == 400 and "Max Input Length Exceeded" in too_many.data.decode()
    # the stricter reading: attributes, events and purchases count together
    event = {"external_id": "u1", "name": "opened", "time": "2026-01-01T00:00:00Z"}
    mixed = post(
        server,
        {"attributes": [{"external_id": f"u{i}"} for i in range(40)], "events": [event] * 40},
    )
    assert mixed.status == 400
    fits = post(server, {"attributes": [{"external_id": f"u{i}"} for i in range(75)]})
    assert fits.status == 201 and json.loads(fits.data)["attributes_processed"] == 75
    assert server.users() and len(server.users()) == 75
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= {
        name.lower() for name in fits.headers
    }
    assert post(server, {"attributes": [{"external_id": "u1"}]}, key="wrong").status == 401


def held_out(user_ids, audience, share, salt=""):
    """The holdout rule of syncs/audience.py, computed here on its own."""
    limit = int(share * 16**15)
    return {
        u
        for u in user_ids
        if int(hashlib.md5(f"{audience}\x1f{u}\x1f{salt}".encode()).hexdigest()[:15], 16) < limit
    }


def test_holdout_members_never_reach_braze(server, warehouse, state, tmp_path):
    spec = SyncSpec("aud_test", "braze", "user_id", FIELDS, list=LIST, holdout=0.2)
    expected = held_out([r[0] for r in people(250)], "aud_test", 0.2)
    assert 25 < len(expected) < 75
    result = sync(server, warehouse, state, spec)
    assert result.counts["held_out"] == len(expected)
    assert result.counts["delivered"] == 250 - len(expected)
    # no request ever named a held-out person, by external id or by email
    emails = {f"p{u[1:]}@example.com" for u in expected}
    assert not (expected | emails) & server.seen
    assert not expected & {u["external_id"] for u in server.users()}
    # a later run with changed values still keeps them out
    warehouse.close()
    warehouse = make_warehouse(tmp_path / "wh.duckdb", people(250, tier="high"))
    sync(server, warehouse, state, spec)
    assert not (expected | emails) & server.seen
    assert server.members(LIST) == {r[0] for r in people(250)} - expected


def test_leavers_lose_the_audience_but_keep_their_profile(server, warehouse, state, tmp_path):
    # u00001 is in another Recur audience too: only this one's name leaves the array.
    post(server, {"attributes": [{"external_id": "u00001", "recur_audiences": ["other"]}]})
    sync(server, warehouse, state)
    assert server.user("u00001")["attributes"]["recur_audiences"] == ["other", LIST]
    warehouse.close()
    warehouse = make_warehouse(tmp_path / "wh.duckdb", people(250)[5:])
    result = sync(server, warehouse, state)
    assert result.counts["removed"] == 5 and result.status == "success"
    assert server.members(LIST) == {r[0] for r in people(250)[5:]}
    assert server.user("u00001")["attributes"]["recur_audiences"] == ["other"]
    assert server.user("u00000")["attributes"]["recur_tier"] == "low"  # the profile stays
    exited = state.events(SPEC.name).query("event == 'exited'")["key"].tolist()
    assert sorted(exited) == [f"u{i:05d}" for i in range(5)]
    # removals say _update_existing_only: they never create a profile
    removals = [
        o for b in track_bodies(server) for o in b["attributes"]
        if isinstance(o.get("recur_audiences"), dict) and "remove" in o["recur_audiences"]
    ]  # fmt: skip
    assert len(removals) == 5 and all(o["_update_existing_only"] is True for o in removals)


def test_update_mode_changes_existing_profiles_only(server, warehouse, state):
    post(server, {"attributes": [{"external_id": f"u{i:05d}"} for i in range(3)]})
    spec = SyncSpec("aud_test", "braze", "user_id", (("recur_tier", "tier"),), mode="update")
    result = sync(server, warehouse, state, spec)
    assert result.status == "success"
    assert len(server.users()) == 3
    assert {u["attributes"]["recur_tier"] for u in server.users()} == {"low"}


def test_mirror_is_refused(server, warehouse, state):
    spec = SyncSpec("aud_test", "braze", "user_id", FIELDS, mode="mirror", list=LIST)
    with pytest.raises(SyncConfigError, match="mirror.*cannot tell"):
        sync(server, warehouse, state, spec)
    assert server.track_requests() == 0


def killable_destination(url):
    """The destination of the sync test_killed_mid_run... runs in a process of its own."""
    return BrazeDestination(BrazeSettings(api_key=SANDBOX_BRAZE_API_KEY, rest_url=url))


def test_killed_mid_run_and_resumed_every_member_arrives_once(server, tmp_path):
    rows = people(1500)
    make_warehouse(tmp_path / "wh.duckdb", rows).close()
    server.delay(TRACK, 0.15, count=1000)  # slow enough to kill it half way
    concurrency = 4
    kill_mid_run(
        "tests.integration.test_braze_sync",
        server.url,
        tmp_path,
        server.track_requests,
        concurrency=concurrency,
    )
    assert 0 < len(server.users()) < 1500
    server.delay(TRACK, 0, count=0)
    committed, result = resume(tmp_path, SPEC.name, lambda con, st: sync(server, con, st))
    assert result.status == "success"
    assert result.counts["added"] == 1500 - committed
    assert_arrived_once(server, rows)
    # each profile gets one attribute object and one audience addition; a row written twice
    # was in a batch in flight (applied, not yet answered) when the process died
    twice = [r[0] for r in rows if server.applied[r[0]] > 2]
    assert len(twice) <= concurrency * 75


def test_the_demo_check_fails_when_a_held_out_person_reached_braze(server, warehouse, state):
    from orchestration.demo import braze_summary

    spec = SyncSpec("aud_test", "braze", "user_id", FIELDS, list=LIST, holdout=0.2)
    sync(server, warehouse, state, spec)
    assert "none of them sent to Braze" in braze_summary(server, state, sync=spec.name)
    query = "select min(key) from records where sync = ? and held_out"
    someone = state.con.execute(query, [spec.name]).fetchone()[0]
    post(server, {"attributes": [{"external_id": someone}]})
    with pytest.raises(AssertionError, match="reached Braze"):
        braze_summary(server, state, sync=spec.name)


def test_a_number_json_cannot_carry_is_refused_unsent(server, state, tmp_path):
    columns = "user_id varchar, email varchar, tier varchar, ltv double, first_name varchar"
    rows = [(*row[:3], float("nan") if row[0] == "u00001" else row[3], row[4]) for row in people(3)]
    con = make_audience(tmp_path / "w.duckdb", columns, rows)
    result = sync(server, con, state)
    assert (result.counts["delivered"], result.counts["rejected"]) == (2, 1)
    assert state.rejections(SPEC.name)["reason"].tolist() == [
        "nan is not a finite number, and JSON numbers must be"
    ]
    assert "u00001" not in server.seen and server.members(LIST) == {"u00000", "u00002"}


def test_settings_come_from_the_environment_and_need_a_rest_url(monkeypatch):
    monkeypatch.delenv("BRAZE_API_KEY", raising=False)
    with pytest.raises(NotConfigured, match="BRAZE_API_KEY"):
        BrazeSettings.from_env()
    monkeypatch.setenv("BRAZE_API_KEY", "key-123456")
    monkeypatch.delenv("BRAZE_REST_URL", raising=False)
    with pytest.raises(SyncConfigError, match="BRAZE_REST_URL"):
        BrazeSettings.from_env()  # no default: nothing reaches a real Braze by accident
    monkeypatch.setenv("BRAZE_REST_URL", "https://rest.iad-01.braze.com/")
    monkeypatch.setenv("BRAZE_BATCH_SIZE", "50")
    settings = BrazeSettings.from_env()
    assert settings.rest_url == "https://rest.iad-01.braze.com" and settings.batch_size == 50
    assert "key-123456" not in repr(settings)
    assert BrazeDestination(settings).capabilities.batch_size == 50
    monkeypatch.setenv("BRAZE_BATCH_SIZE", "76")
    with pytest.raises(SyncConfigError, match="BRAZE_BATCH_SIZE"):
        BrazeSettings.from_env()
