"""Invalid emails, as a real CRM has them: a few per cent of the profiles, and one unicode address.

Below ``RECUR_CHECK_MAX_INVALID_EMAIL_SHARE`` the email syncs run: HubSpot (the sandbox) receives
every valid member, the invalid ones are held back with their reason, and a file keyed by
``user_id`` (no email sent) writes every member. Above the share the email sync is blocked by its
``emails_valid`` check and the ``user_id`` file sync still runs.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import dagster as dg
import pytest

from sandbox.generate import generate
from sandbox.servers.hubspot import HubSpotServer
from sources.warehouse import connect
from syncs.emails import INVALID_EMAIL_REASON, is_valid_email
from syncs.spec import SyncSpec
from syncs.state import StateStore
from tests.conftest import point_recur_at

UNICODE = "üñîçødé@exämple.com"
NEW, TRAITS = "aud_new_customers", "aud_contact_traits"  # TRAITS: everyone with a profile email
NEW_SYNC = dg.AssetKey(["syncs", f"{NEW}_to_hubspot"])
TRAITS_SYNC = dg.AssetKey(["syncs", f"{TRAITS}_to_hubspot"])
#: A file sync keyed by user_id that sends no email (added to the declared ones by the test).
IDS_FILE = SyncSpec(
    NEW, "file", "user_id", (("user_id", "user_id"),), format="csv", name=f"{NEW}_ids_to_file"
)
IDS_SYNC = dg.AssetKey(["syncs", IDS_FILE.name])


def bad_address(n: int) -> str:
    """Invalid addresses of the kinds CRMs hold."""
    kinds = ["jo{n}.broken-at-example.com", "jo{n}@localhost", "jo{n}..x@example.com",
             "jo{n}@example.com\n", "jo {n}@example.com", "jo{n}@@example.com"]  # fmt: skip
    return kinds[n % len(kinds)].format(n=n)


def profiles(exports: Path) -> dict[str, str]:
    """user_id -> email of every profile with one."""
    return {
        p["$distinct_id"]: p["$properties"]["$email"]
        for page in sorted((exports / "mixpanel" / "profiles").glob("*.json"))
        for p in json.loads(page.read_text())["results"]
        if p["$properties"].get("$email")
    }


def set_emails(exports: Path, emails: dict[str, str]) -> None:
    for page in sorted((exports / "mixpanel" / "profiles").glob("*.json")):
        doc = json.loads(page.read_text())
        hit = [p for p in doc["results"] if p["$distinct_id"] in emails]
        for p in hit:
            p["$properties"]["$email"] = emails[p["$distinct_id"]]
        if hit:
            page.write_text(json.dumps(doc))


def members(tmp: Path, audience: str) -> dict[str, str]:
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        return dict(con.execute(f"select user_id, email from audiences.{audience}").fetchall())


def evaluation(instance: dg.DagsterInstance, key: dg.AssetKey):
    record = instance.get_latest_asset_check_evaluation_record(
        dg.AssetCheckKey(key, "emails_valid")
    )
    assert record is not None and record.event is not None, f"emails_valid on {key} never ran"
    return record.event.dagster_event.event_specific_data


def last_run(tmp: Path, sync: str):
    with StateStore(tmp / "state.duckdb") as state:
        runs = state.runs(limit=1000)
    mine = runs[runs["sync"] == sync]
    return None if mine.empty else mine.iloc[0]


def rejections(tmp: Path, sync: str) -> dict[str, str]:
    with StateStore(tmp / "state.duckdb") as state:
        frame = state.rejections(sync)
    return dict(zip(frame["key"], frame["reason"], strict=True))


def ids_in_file(tmp: Path) -> set[str]:
    with open(tmp / "files" / f"{NEW}.csv") as f:
        return {row["user_id"] for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One clean run to learn the audiences, then 3% of the profile emails made invalid: the
    unicode address for one member of aud_new_customers, the others outside it. All of them are
    in aud_contact_traits (one row per profile email)."""
    tmp = tmp_path_factory.mktemp("emails")
    exports = tmp / "exports"
    generate(exports, users=300, days=14, seed=11, faults=0.0)
    with pytest.MonkeyPatch.context() as mp, HubSpotServer(tmp / "hubspot.sqlite") as server:
        # 300 generated people give audiences of tens: judge the share at any size here
        point_recur_at(
            mp,
            tmp,
            exports,
            server,
            RECUR_AUDIENCE_FILES=str(tmp / "files"),
            RECUR_CHECK_MIN_MEMBERS_FOR_EMAIL_SHARE="1",
        )
        mp.delenv("RECUR_CHECK_MAX_INVALID_EMAIL_SHARE", raising=False)
        from orchestration.definitions import build_defs
        from orchestration.defs.syncs.assets import build_sync_asset
        from orchestration.runner import run

        def defs():
            return dg.Definitions.merge(
                build_defs(), dg.Definitions(assets=[build_sync_asset(IDS_FILE)])
            )

        instance = dg.DagsterInstance.ephemeral()
        clean = run(
            defs(), select="not group:syncs", dagster_instance=instance, echo=lambda _: None
        )
        assert clean.failed == []
        new = members(tmp, NEW)
        assert len(new) >= 20, len(new)  # so that one invalid member is at most 5%
        everyone = profiles(exports)
        planted = {sorted(new)[0]: UNICODE}
        # the others only in aud_contact_traits among the email audiences (never bought, no cart
        # abandoned), so that no small audience gets more than its 5% by chance
        with open(exports / "truth" / "people.csv") as f:
            buyers = {p["user_id"] for p in csv.DictReader(f) if p["is_customer"] == "True"}
        carts = set(members(tmp, "aud_cart_abandoners"))
        others = sorted(set(everyone) - set(new) - buyers - carts)
        for i, user in enumerate(others[: math.ceil(0.03 * len(everyone)) - len(planted)]):
            planted[user] = bad_address(i + 1)
        set_emails(exports, planted)
        said: list[str] = []
        report = run(defs(), dagster_instance=instance, echo=said.append)
        yield {
            "said": said,
            "tmp": tmp,
            "exports": exports,
            "server": server,
            "instance": instance,
            "report": report,
            "planted": planted,
            "profiles": everyone,
            "defs": defs,
            "run": run,
        }


def test_3_percent_invalid_emails_do_not_block_the_valid_members(world):
    tmp, server, instance = world["tmp"], world["server"], world["instance"]
    planted = world["planted"]
    assert len(planted) == math.ceil(0.03 * len(world["profiles"]))
    assert world["report"].failed == [], world["said"]
    for audience, key, planted_here in ((NEW, NEW_SYNC, 1), (TRAITS, TRAITS_SYNC, len(planted))):
        audience_members = members(tmp, audience)
        bad = {u: e for u, e in audience_members.items() if u in planted}
        assert len(bad) == planted_here and set(bad.values()) <= set(planted.values())
        check = evaluation(instance, key)
        assert check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        assert check.metadata["invalid"].value == len(bad)
        assert check.metadata["max_invalid_share"].value == 0.05
        assert check.metadata["members"].value == len(audience_members)
        share = len(bad) / len(audience_members)
        assert check.metadata["invalid_share"].value == pytest.approx(share) and share <= 0.05
        shown = check.metadata["examples"].value
        assert len(shown) == min(5, len(bad))
        assert all(bad[e["user_id"]].strip(" ").lower() == e["email"] for e in shown)

        # every valid member reached HubSpot; the invalid ones were held back with their reason
        valid = {e.strip(" ").lower() for e in audience_members.values() if is_valid_email(e)}
        assert len(valid) == len(audience_members) - len(bad)
        sync = key.path[1]
        run = last_run(tmp, sync)
        assert run["status"] == "partial", run  # partial: rows were held back
        assert run["delivered"] == len(valid) and run["invalid"] == len(bad)
        assert rejections(tmp, sync) == {
            e.strip(" ").lower(): INVALID_EMAIL_REASON for e in bad.values()
        }
        assert valid <= {c["email"] for c in server.contacts()}
    arrived = {c["email"] for c in server.contacts()}
    sent_new = {e.lower() for e in members(tmp, NEW).values() if is_valid_email(e)}
    assert sent_new <= arrived
    assert UNICODE not in arrived and UNICODE.encode() not in b"".join(
        r.body for r in server.requests
    )
    assert not any(e in arrived for e in planted.values())

    # the user_id file sync sends no email: no email check, every member written
    assert evaluation_missing(instance, IDS_SYNC)
    assert ids_in_file(tmp) == set(members(tmp, NEW))


def evaluation_missing(instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
    return (
        instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(key, "emails_valid"))
        is None
        and instance.get_latest_materialization_event(key) is not None
    )


def test_above_the_threshold_the_email_sync_is_blocked_and_the_id_file_is_not(world):
    tmp, server, instance, exports = (world[k] for k in ("tmp", "server", "instance", "exports"))
    new = members(tmp, NEW)
    extra = math.floor(0.05 * len(new)) + 1  # with the unicode one: above 5%
    more = {u: bad_address(100 + i) for i, u in enumerate(sorted(new)[1 : 1 + extra])}
    set_emails(exports, more)
    writes = len(server.requests)
    before_new = last_run(tmp, NEW_SYNC.path[1])["run_id"]
    said: list[str] = []
    report = world["run"](world["defs"](), dagster_instance=instance, echo=said.append)
    assert report.failed == ["unpartitioned"]
    failures = [line.strip() for line in said if line.startswith("    ")]
    # the email syncs of the audiences these people are in are blocked (each on its own share),
    # and nothing else failed
    assert any(f"{NEW_SYNC.path[1]}: blocked by emails_valid" in f for f in failures), said
    assert all("blocked by emails_valid" in f for f in failures), said
    assert not any(IDS_FILE.name in f for f in failures)

    check = evaluation(instance, NEW_SYNC)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["invalid"].value == extra + 1
    assert check.metadata["invalid_share"].value == pytest.approx((extra + 1) / len(new))
    assert check.metadata["invalid_share"].value > check.metadata["max_invalid_share"].value
    assert len(check.metadata["examples"].value) == 5
    assert last_run(tmp, NEW_SYNC.path[1])["run_id"] == before_new  # nothing started
    assert not any(
        b"Recur: New customers" in r.body or any(e.encode() in r.body for e in more.values())
        for r in server.requests[writes:]
    )

    # the id file ran; the other audience's email sync is judged on its own share
    assert ids_in_file(tmp) == set(members(tmp, NEW))
    assert last_run(tmp, IDS_FILE.name)["status"] in ("success", "unchanged")
    traits = members(tmp, TRAITS)
    share = sum(not is_valid_email(e) for e in traits.values()) / len(traits)
    assert evaluation(instance, TRAITS_SYNC).passed == (share <= 0.05)
