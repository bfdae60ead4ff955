"""The quality gate in Dagster: a failed blocking check stops the syncs behind it, and they run
once the data is fixed.

The bad data is planted where real bad data comes from, Mixpanel profiles whose ``$email`` is
not an address, so it survives the whole run (load, dbt, audiences) into aud_contact_traits. A few
invalid addresses are normal (the syncs hold them back, tests/integration/test_invalid_emails.py);
more than ``RECUR_CHECK_MAX_INVALID_EMAIL_SHARE`` (5%) of an audience blocks its email syncs.
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
from syncs.state import StateStore
from tests.conftest import point_recur_at

BAD_EMAIL = "jo.broken-at-example.com"
FIXED_EMAIL = "jo.fixed@example.com"
EMAILS_CHECK = "emails_valid"
TRAITS_HUBSPOT = dg.AssetKey(["syncs", "aud_contact_traits_to_hubspot"])
TRAITS_SYNCS = [
    dg.AssetKey(["syncs", "aud_contact_traits_to_hubspot"]),
    dg.AssetKey(["syncs", "aud_contact_traits_to_file"]),
]
CHAMPIONS_SYNC = dg.AssetKey(["syncs", "aud_champions_to_hubspot"])
CONTACT_TRAITS_ONLY_FIELD = "recur_engagement"  # only the contact-traits sync maps it


def set_profile_emails(exports: Path, emails: dict[str, str]) -> None:
    """Rewrite people's ``$email`` in the Engage pages (a new file content, so they reload)."""
    found = set()
    for page in sorted((exports / "mixpanel" / "profiles").glob("*.json")):
        doc = json.loads(page.read_text())
        hit = [p for p in doc["results"] if p["$distinct_id"] in emails]
        for profile in hit:
            profile["$properties"]["$email"] = emails[profile["$distinct_id"]]
            found.add(profile["$distinct_id"])
        if hit:
            page.write_text(json.dumps(doc))
    assert found == set(emails), f"no profile for {set(emails) - found}"


def non_customers_with_a_profile(exports: Path) -> list[str]:
    """Enough people only in aud_contact_traits among the HubSpot audiences (they never bought,
    so no champion, at-risk or new customer) to put 10% of its members (one per profile with an
    email) over the 5% invalid-email share, so the other audiences stay clean."""
    with open(exports / "truth" / "people.csv") as f:
        buyers = {p["user_id"] for p in csv.DictReader(f) if p["is_customer"] == "True"}
    profiles = [
        profile["$distinct_id"]
        for page in sorted((exports / "mixpanel" / "profiles").glob("*.json"))
        for profile in json.loads(page.read_text())["results"]
        if profile["$properties"].get("$email")
    ]
    return [p for p in profiles if p not in buyers][: math.ceil(0.10 * len(profiles))]


def bad(i: int) -> str:
    return BAD_EMAIL if i == 0 else f"jo{i}.broken-at-example.com"


def fixed_email(i: int) -> str:
    return FIXED_EMAIL if i == 0 else f"jo{i}.fixed@example.com"


def evaluation(instance: dg.DagsterInstance, asset: dg.AssetKey, name: str):
    record = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(asset, name))
    assert record is not None and record.event is not None, f"{name} on {asset} never ran"
    return record.event.dagster_event.event_specific_data


def materialized(instance: dg.DagsterInstance, key: dg.AssetKey) -> bool:
    return instance.get_latest_materialization_event(key) is not None


def hubspot_writes(server: HubSpotServer) -> list[bytes]:
    return [r.body for r in server.requests if r.path.startswith("/crm/v3/objects/contacts/batch")]


def test_each_suite_is_a_check_on_its_table_and_the_audience_checks_wait_on_upstream():
    from orchestration.definitions import defs

    specs = {
        (spec.asset_key.to_user_string(), spec.name): spec
        for checks in defs.asset_checks
        for spec in checks.check_specs
    }
    # the email check is run by each email sync's own step: a check spec of the sync asset
    specs.update(
        {
            (spec.asset_key.to_user_string(), spec.name): spec
            for asset in defs.assets
            if isinstance(asset, dg.AssetsDefinition)
            for spec in asset.check_specs
        }
    )
    assert ("syncs/aud_champions_to_hubspot", EMAILS_CHECK) not in {
        (s.asset_key.to_user_string(), s.name) for c in defs.asset_checks for s in c.check_specs
    }
    assert specs[("audiences/aud_champions", "audience_size_stable")].blocking
    # the email rule is per sync, on the syncs that send emails only
    assert not any(name == "audience_emails_valid" for _, name in specs)
    assert specs[("syncs/aud_champions_to_hubspot", EMAILS_CHECK)].blocking
    assert specs[("syncs/aud_champions_to_file", EMAILS_CHECK)].blocking  # maps an email field
    assert not specs[("audiences/aud_champions", "audience_not_empty")].blocking
    assert not specs[("analytics/user_rfm", "rfm_segment_shares")].blocking
    for key in ("raw/mixpanel_events", "raw/amplitude_events"):
        assert specs[(key, "events_valid")].blocking and specs[(key, "load_rates")].blocking
        assert (key, "freshness_check") in specs
    assert ("core/fct_events", "freshness_check") in specs
    waits_on = {
        d.asset_key.to_user_string()
        for d in specs[("audiences/aud_champions", "audience_size_stable")].additional_deps
    }
    assert waits_on == {
        "raw/mixpanel_events",
        "raw/amplitude_events",
        "core/dim_users",
        "core/fct_orders",
    }
    # the LTV models' checks gate the syncs that use a prediction, directly, and no other
    graph = defs.resolve_asset_graph()
    ltv = {"analytics/ltv_model_params", "analytics/customer_ltv", "analytics/churn_risk"}
    for name, uses in [("aud_champions_to_hubspot", True), ("aud_new_customers_to_hubspot", False)]:
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(["syncs", name])).parent_keys}
        assert (ltv <= parents) is uses and (not parents & ltv) is (not uses), name
    assert specs[("analytics/ltv_model_params", "ltv_fit_converged")].blocking
    assert specs[("analytics/customer_ltv", "ltv_predictions_finite")].blocking
    assert "freshness_checks" in {s.name for s in defs.sensors}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Generated exports with malformed profile emails for 10% of the profiles (all outside the
    other HubSpot audiences), run once through `recur run`."""
    tmp = tmp_path_factory.mktemp("quality")
    exports = tmp / "exports"
    generate(exports, users=300, days=14, seed=11, faults=0.0)
    people = non_customers_with_a_profile(exports)
    person = people[0]
    set_profile_emails(exports, {p: bad(i) for i, p in enumerate(people)})
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
        from orchestration.definitions import build_defs
        from orchestration.runner import run

        instance = dg.DagsterInstance.ephemeral()
        report = run(build_defs(), dagster_instance=instance, echo=lambda _: None)
        yield {
            "tmp": tmp,
            "exports": exports,
            "person": person,
            "people": people,
            "server": server,
            "instance": instance,
            "report": report,
        }


def test_invalid_emails_above_the_share_stop_the_syncs_that_send_them(world):
    tmp, server, instance = world["tmp"], world["server"], world["instance"]
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        planted = con.execute(
            "select user_id from audiences.aud_contact_traits where email = ?", [BAD_EMAIL]
        ).fetchall()
    assert planted == [(world["person"],)]  # the bad address survived into the audience

    # the load passed; the run of models, checks and syncs failed on the blocking check
    assert world["report"].failed == ["unpartitioned"]
    check = evaluation(instance, TRAITS_HUBSPOT, EMAILS_CHECK)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    shown = check.metadata["examples"].value
    assert {"user_id": world["person"], "email": BAD_EMAIL} in [
        {k: e[k] for k in ("user_id", "email")} for e in shown
    ]
    assert check.metadata["invalid"].value == len(world["people"])
    assert check.metadata["invalid_share"].value > 0.05

    # its syncs did not run: nothing materialized, no run recorded, nothing sent or written
    for key in TRAITS_SYNCS:
        assert not materialized(instance, key), key
    with StateStore(tmp / "state.duckdb") as state:
        syncs = set(state.runs(limit=100)["sync"])
    assert not {k.path[1] for k in TRAITS_SYNCS} & syncs
    assert not any(CONTACT_TRAITS_ONLY_FIELD.encode() in body for body in hubspot_writes(server))
    assert not any(BAD_EMAIL.encode() in r.body for r in server.requests)
    assert not (tmp / "files" / "aud_contact_traits.parquet").exists()

    # the other audiences passed their checks, and their syncs ran
    assert evaluation(instance, CHAMPIONS_SYNC, EMAILS_CHECK).passed
    assert materialized(instance, CHAMPIONS_SYNC)
    assert "aud_champions_to_hubspot" in syncs


@pytest.fixture(scope="module")
def fixed(world):
    """The profiles corrected at the source and everything run again."""
    set_profile_emails(world["exports"], {p: fixed_email(i) for i, p in enumerate(world["people"])})
    from orchestration.definitions import build_defs
    from orchestration.runner import run

    report = run(build_defs(), dagster_instance=world["instance"], echo=lambda _: None)
    return {**world, "report": report}


def test_once_the_data_is_fixed_the_sync_runs_and_the_contacts_arrive(fixed):
    tmp, server, instance = fixed["tmp"], fixed["server"], fixed["instance"]
    assert fixed["report"].failed == []
    for key in TRAITS_SYNCS:
        assert evaluation(instance, key, EMAILS_CHECK).passed
    for key in TRAITS_SYNCS:
        assert materialized(instance, key), key
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        emails = {
            r[0] for r in con.execute("select email from audiences.aud_contact_traits").fetchall()
        }
    assert FIXED_EMAIL in emails and BAD_EMAIL not in emails
    arrived = {c["email"]: c["properties"] for c in server.contacts()}
    assert emails <= set(arrived)
    assert arrived[FIXED_EMAIL].get(CONTACT_TRAITS_ONLY_FIELD)
    assert (tmp / "files" / "aud_contact_traits.parquet").exists()


# the shipped syncs that neither send nor filter on a prediction (checks/ltv_usage.py)
LTV_FREE_SYNCS = {
    "aud_new_customers_to_hubspot",
    "aud_cart_abandoners_to_hubspot",
    "aud_cart_abandoners_to_file",
}


def syncs_started_since(state_path: Path, runs: int) -> set[str]:
    with StateStore(state_path) as state:
        latest = state.runs(limit=1000)
    return set(latest["sync"][: len(latest) - runs])


def test_recur_sync_checks_upstream_first_and_a_failed_ltv_check_stops_the_syncs_that_use_ltv(
    fixed, monkeypatch, capsys
):
    """A churn score outside [0, 1] fails analytics/churn_risk's blocking check; then a BG/NBD
    fit that did not converge fails ltv_fit_converged. `recur sync` rebuilds nothing, but runs
    the blocking checks upstream of the syncs first: the syncs that send or filter on a
    prediction do not start, the others (new customers, cart abandoners) run."""
    tmp, server = fixed["tmp"], fixed["server"]
    with connect(tmp / "warehouse.duckdb") as con:
        user, score = con.execute(
            "select user_id, churn_score from analytics.churn_risk order by user_id limit 1"
        ).fetchone()
        con.execute("update analytics.churn_risk set churn_score = 1.5 where user_id = ?", [user])
    with StateStore(tmp / "state.duckdb") as state:
        runs = len(state.runs(limit=1000))
    writes = len(hubspot_writes(server))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # a throwaway instance, not the user's
    from orchestration.cli import main

    assert main(["sync"]) == 1
    out = capsys.readouterr().out
    assert "quality__analytics__churn_risk" in out and "churn_scores_in_range" in out
    assert len(hubspot_writes(server)) == writes  # nothing changed for the free ones to send
    assert syncs_started_since(tmp / "state.duckdb", runs) == LTV_FREE_SYNCS
    with connect(tmp / "warehouse.duckdb") as con:
        con.execute(
            "update analytics.churn_risk set churn_score = ? where user_id = ?", [score, user]
        )
        con.execute(
            "update analytics.ltv_model_params set converged = false, "
            "fit_status = 'not_converged' where model = 'bgnbd'"
        )
        from reports.ltv_status import warning_html

        assert "bgnbd fit did not converge" in warning_html(con)
    with StateStore(tmp / "state.duckdb") as state:
        runs = len(state.runs(limit=1000))
    assert main(["sync"]) == 1
    assert "ltv_fit_converged" in capsys.readouterr().out
    assert syncs_started_since(tmp / "state.duckdb", runs) == LTV_FREE_SYNCS
    with connect(tmp / "warehouse.duckdb") as con:
        con.execute(
            "update analytics.ltv_model_params set converged = true, fit_status = 'converged' "
            "where model = 'bgnbd'"
        )
    with StateStore(tmp / "state.duckdb") as state:
        runs = len(state.runs(limit=1000))

    assert main(["sync"]) == 0  # fixed: the checks pass, every sync runs, nothing changed to send
    with StateStore(tmp / "state.duckdb") as state:
        latest = state.runs(limit=1000)
    assert len(latest) > runs and set(latest["status"][: len(latest) - runs]) == {"unchanged"}
    assert len(hubspot_writes(server)) == writes


def test_a_failed_raw_check_stops_the_models_and_the_syncs_of_later_runs(
    fixed, monkeypatch, capsys
):
    """A raw event dated 1990 fails raw/mixpanel_events' blocking check. The models and syncs run
    in other runs than the load, so those runs check the raw tables again before they start."""
    tmp, server, instance = fixed["tmp"], fixed["server"], fixed["instance"]
    with connect(tmp / "warehouse.duckdb") as con:
        con.execute(
            "update raw.mixpanel_events set event_at = timestamp '1990-01-01' "
            "where event_key = (select min(event_key) from raw.mixpanel_events)"
        )
    from orchestration.definitions import build_defs
    from orchestration.runner import run

    staging = dg.AssetKey(["staging", "stg_mixpanel__events"])
    before = instance.get_latest_materialization_event(staging)
    report = run(
        build_defs(),
        select="key:staging/stg_mixpanel__events",
        dagster_instance=instance,
        echo=lambda _: None,
    )
    assert report.failed == ["unpartitioned"]
    check = evaluation(instance, dg.AssetKey(["raw", "mixpanel_events"]), "events_valid")
    assert not check.passed and "1990-01-01" in check.metadata["failing examples"].value
    assert instance.get_latest_materialization_event(staging) == before
    (latest,) = instance.get_runs(limit=1)
    started = {
        e.step_key for e in instance.all_logs(latest.run_id, of_type=dg.DagsterEventType.STEP_START)
    }
    assert "recur_dbt_models" not in started  # dbt never started
    assert any(key.startswith("quality__raw__mixpanel_events") for key in started)

    writes = len(hubspot_writes(server))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    from orchestration.cli import main

    assert main(["sync"]) == 1
    assert "events_valid" in capsys.readouterr().out
    assert len(hubspot_writes(server)) == writes
