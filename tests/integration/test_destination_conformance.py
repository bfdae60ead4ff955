"""One conformance suite that every destination passes (memory, file, HubSpot and Braze sandboxes).

Each destination gets the same audience and the same changes; an adapter reads back what
arrived (values per key, and the members of the list or file), so the assertions are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pytest

from sandbox.servers.braze import SANDBOX_BRAZE_API_KEY, BrazeServer
from sandbox.servers.hubspot import SANDBOX_HUBSPOT_TOKEN, HubSpotServer
from syncs.destinations.base import Destination
from syncs.destinations.braze import BrazeDestination, BrazeSettings
from syncs.destinations.file import FileDestination
from syncs.destinations.hubspot import HubSpotDestination, HubSpotSettings
from syncs.destinations.memory import MemoryDestination
from syncs.engine import RetryPolicy, run_sync
from syncs.pacing import RateLimiter
from syncs.spec import SyncSpec
from syncs.state import StateStore

FIELDS = (("recur_tier", "tier"), ("recur_score", "score"), ("recur_since", "since"))


@dataclass
class Adapter:
    """A destination under test and how to read back what it received."""

    make: Callable[[], Destination]
    delivered: Callable[[], dict[str, dict[str, str]]]  # key -> field -> value
    members: Callable[[], set[str]]
    spec: SyncSpec


def memory_adapter(tmp_path) -> Adapter:
    dest = MemoryDestination()
    spec = SyncSpec("aud_conf", "memory", "email", FIELDS, list="Conformance")
    return Adapter(lambda: dest, lambda: dest.records, lambda: set(dest.members), spec)


def file_adapter(tmp_path) -> Adapter:
    spec = SyncSpec("aud_conf", "file", "email", (("email", "email"), *FIELDS), format="csv")
    path = tmp_path / "files" / "aud_conf.csv"

    def rows():
        if not path.exists():
            return {}
        con = duckdb.connect()
        data = con.execute(f"select * from read_csv('{path}', all_varchar = true)").df()
        return {
            r["email"]: {k: v for k, v in r.items() if k != "email"}
            for r in data.to_dict("records")
        }

    return Adapter(lambda: FileDestination(tmp_path / "files"), rows, lambda: set(rows()), spec)


def hubspot_adapter(tmp_path, server: HubSpotServer) -> Adapter:
    spec = SyncSpec("aud_conf", "hubspot", "email", FIELDS, list="Recur: Conformance")
    settings = HubSpotSettings(access_token=SANDBOX_HUBSPOT_TOKEN, base_url=server.url)
    limiter = RateLimiter(190, 10.0)

    def delivered():
        names = [name for name, _ in FIELDS]
        return {c["email"]: {n: c["properties"].get(n) for n in names} for c in server.contacts()}

    return Adapter(
        lambda: HubSpotDestination(settings, limiter=limiter),
        delivered,
        lambda: server.list_members("Recur: Conformance"),
        spec,
    )


def braze_adapter(tmp_path, server: BrazeServer) -> Adapter:
    # Matched by email (the identifier Braze takes when the match key is an email column).
    spec = SyncSpec("aud_conf", "braze", "email", FIELDS, list="Recur: Conformance")
    settings = BrazeSettings(api_key=SANDBOX_BRAZE_API_KEY, rest_url=server.url)
    limiter = RateLimiter(3000, 3.0)

    def text(value):
        return (
            None
            if value is None
            else format(value, "g")
            if isinstance(value, float)
            else str(value)
        )

    def delivered():
        names = [name for name, _ in FIELDS]
        return {
            u["email"]: {n: text(u["attributes"].get(n)) for n in names} for u in server.users()
        }

    return Adapter(
        lambda: BrazeDestination(settings, limiter=limiter),
        delivered,
        lambda: server.members("Recur: Conformance"),
        spec,
    )


@pytest.fixture(params=["memory", "file", "hubspot", "braze"])
def adapter(request, tmp_path):
    if request.param == "hubspot":
        with HubSpotServer() as server:
            yield hubspot_adapter(tmp_path, server)
    elif request.param == "braze":
        with BrazeServer() as server:
            yield braze_adapter(tmp_path, server)
    else:
        yield {"memory": memory_adapter, "file": file_adapter}[request.param](tmp_path)


def set_audience(con, rows):
    con.execute(
        "create or replace table audiences.aud_conf "
        "(email varchar, tier varchar, score decimal(10, 2), since date)"
    )
    con.executemany("insert into audiences.aud_conf values (?, ?, ?, ?)", rows)


def people(n):
    return [
        (f"p{i}@example.com", ["low", "mid", "high"][i % 3], i * 1.25, f"2026-01-{i % 28 + 1:02d}")
        for i in range(n)
    ]


def test_every_destination_conforms(adapter):
    con = duckdb.connect()
    con.execute("create schema audiences")
    state = StateStore(":memory:")
    policy = RetryPolicy(max_attempts=3, base_delay=0.01)
    made = []

    def sync():
        def factory():
            made.append(1)
            return adapter.make()

        return run_sync(
            adapter.spec, warehouse=con, state=state, destination=factory, policy=policy
        )

    audience = people(230) + [("bad@@example.com", "low", 1, "2026-01-01")]
    set_audience(con, audience)
    first = sync()
    assert first.status == "partial" and first.counts["invalid"] == 1
    assert first.counts["delivered"] == 230
    delivered = adapter.delivered()
    assert len(delivered) == 230 and "bad@@example.com" not in delivered
    assert delivered["p7@example.com"]["recur_tier"] == "mid"
    assert delivered["p7@example.com"]["recur_score"] in ("8.75", "8.750")
    assert adapter.members() == {f"p{i}@example.com" for i in range(230)}

    # Nothing changed: the destination is not even created, no request is made.
    made.clear()
    again = sync()
    assert again.counts["unchanged"] == 230 and made == []

    # One change, one leaver, one newcomer.
    audience = people(230)[1:] + [("new@example.com", "high", 2, "2026-02-01")]
    audience[0] = ("p1@example.com", "vip", 1.25, "2026-01-02")
    set_audience(con, audience)
    third = sync()
    c = third.counts
    assert (c["added"], c["changed"], c["removed"], c["unchanged"]) == (1, 1, 1, 228)
    delivered = adapter.delivered()
    assert delivered["p1@example.com"]["recur_tier"] == "vip"
    assert delivered["new@example.com"]["recur_tier"] == "high"
    assert "p0@example.com" not in adapter.members()
    assert "new@example.com" in adapter.members()
    events = state.events(adapter.spec.name)
    assert events[events["event"] == "exited"]["key"].tolist() == ["p0@example.com"]
