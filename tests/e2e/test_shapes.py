"""Every shape of data real projects bring gives a green `recur run` and `recur sync` (to the
sandbox HubSpot), with the numbers the generator's ground truth gives.

The shapes are the generator's flags (`recur generate --help`): an app without revenue, a store
of one week, events without `$insert_id`, a Mixpanel project on local time, an order history from
the 1990s, a CRM with invalid emails, and event names of the app's own choosing. Expected numbers
come from `truth/` (written by the generator as it simulates), never from Recur's models.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest

from sandbox.generate import generate
from sandbox.servers.hubspot import HubSpotServer
from sources.warehouse import connect
from tests.conftest import APP_EVENT_VARS, point_recur_at

WRITES = ("/crm/v3/objects/contacts/batch/", "/crm/v3/lists/")
APP_NAMES = {
    "View Item": "product_view",
    "Add To Cart": "add_to_cart",
    "Checkout Started": "checkout",
    "Purchase": "purchase",
    "Sign Up": "sign_up",
}
APP_VARS = json.dumps(APP_EVENT_VARS)

# shape: (generate() options, environment of the run)
SHAPES: dict[str, tuple[dict, dict[str, str]]] = {
    "no_revenue": ({"revenue": False}, {}),
    "own_event_names": ({"event_names": APP_NAMES}, {"RECUR_DBT_VARS": APP_VARS}),
    "one_week": ({"days": 7}, {}),
    "no_insert_id": ({"insert_id": False, "faults": 0.02}, {}),
    "invalid_emails": ({"invalid_email_share": 0.03}, {}),
    "history_from_1997": ({"start": date(1997, 3, 1)}, {"RECUR_EARLIEST_EVENT": "1990-01-01"}),
    "project_time_zone": (
        {"mixpanel_timezone": "America/Los_Angeles"},
        {"RECUR_MIXPANEL_TIMEZONE": "America/Los_Angeles"},
    ),
}
# Each run costs a minute or two of fixed dbt and Dagster time, so shapes that real projects
# bring together share a run: a product app without revenue and with its own event names; a
# week-old shop without $insert_id and with a dirty CRM; a 1990s history of a Mixpanel project
# on local time (projects before 2023 are). Every shape's own assertions run in its case.
CASES = {
    "app_without_revenue_own_names": ("no_revenue", "own_event_names"),
    "week_old_shop_dirty_crm": ("one_week", "no_insert_id", "invalid_emails"),
    "local_time_history": ("history_from_1997", "project_time_zone"),
}


def _truth(exports: Path) -> tuple[dict, list[dict[str, str]]]:
    summary = json.loads((exports / "truth" / "summary.json").read_text())
    with open(exports / "truth" / "people.csv", newline="") as handle:
        people = list(csv.DictReader(handle))
    return summary, people


@pytest.mark.parametrize("case", list(CASES))
def test_recur_run_and_sync_succeed_with_the_truths_numbers(case, tmp_path, monkeypatch):
    shapes = CASES[case]
    options = {k: v for shape in shapes for k, v in SHAPES[shape][0].items()}
    env = {k: v for shape in shapes for k, v in SHAPES[shape][1].items()}
    exports = tmp_path / "exports"
    generate(exports, **{"users": 150, "days": 21, "seed": 11, **options})
    summary, people = _truth(exports)
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.delenv("RECUR_AS_OF", raising=False)

    from orchestration.cli import main
    from orchestration.definitions import build_defs
    from orchestration.runner import run

    lines: list[str] = []
    with HubSpotServer(tmp_path / "hubspot.sqlite") as server:
        point_recur_at(monkeypatch, tmp_path, exports, server, **env)
        report = run(
            build_defs(), dagster_instance=dg.DagsterInstance.ephemeral(), echo=lines.append
        )
        assert report.failed == [], "\n".join(lines)
        print("\n".join(lines))
        written = len([r for r in server.requests if r.path.startswith(WRITES)])
        assert main(["sync"]) == 0  # `recur sync` after the run: green, and nothing new to send
        assert len([r for r in server.requests if r.path.startswith(WRITES)]) == written
        arrived = {c["email"] for c in server.contacts()}

    with connect(warehouse, read_only=True) as con:
        one = lambda sql: con.execute(sql).fetchone()  # noqa: E731
        truth = summary["sources"]
        loaded = dict(
            con.execute(
                "select source, sum(loaded) from raw.load_ledger group by source"
            ).fetchall()
        )
        assert loaded.get("mixpanel") == truth["mixpanel"]["unique_events"]
        assert loaded.get("amplitude") == truth["amplitude"]["unique_events"]
        events, people_seen = one("select count(*), count(distinct user_id) from core.fct_events")
        assert events == loaded["mixpanel"] + loaded["amplitude"]
        assert people_seen == one("select count(*) from core.dim_users")[0]

        orders, refunds, revenue = one(
            "select count(*) filter (where not is_refund), count(*) filter (where is_refund),"
            " coalesce(sum(revenue), 0) from core.fct_orders"
        )
        totals = summary["totals"]
        assert orders == totals["orders"]
        assert refunds == sum(s["refunds"] for s in truth.values())
        assert float(revenue) == pytest.approx(totals["revenue"] - totals["refunded"], abs=0.01)
        assert one("select count(*) from core.fct_sessions")[0] == totals["sessions"]

        # every contact with an address a mailbox can receive arrived in HubSpot, and only those
        contacts = {
            e for (e,) in con.execute("select email from audiences.aud_contact_traits").fetchall()
        }
        valid = {
            p["email"] for p in people if p["email"] and p.get("email_valid", "True") == "True"
        }
        assert contacts, "no contact to sync"
        assert arrived == contacts & valid

        statuses = dict(
            con.execute("select model, model_status from analytics.ltv_model_params").fetchall()
        )
        by_name = dict(
            con.execute("select event_name, count(*) from core.fct_events group by 1").fetchall()
        )
        first_seen = dict(
            con.execute("select user_id, first_seen_at from core.dim_users").fetchall()
        )
        first_day = one("select min(event_date) from core.fct_events")[0]

    expected_names = {
        name: sum(s["events_by_name"].get(name, 0) for s in truth.values())
        for name in {n for s in truth.values() for n in s["events_by_name"]}
    }
    assert by_name == {name: n for name, n in expected_names.items() if n}

    if "no_revenue" in shapes:
        assert orders == 0 and set(statuses.values()) == {"not_estimable"}
    if "no_insert_id" in shapes:
        assert summary["generation"]["duplicates"]["mixpanel"] > 0
        assert summary["shape"]["mixpanel_cross_person_collisions"] > 0  # kept apart, counted above
    if "project_time_zone" in shapes:
        # first events in UTC, to the second (Mixpanel times are whole seconds)
        for person in people:
            if person["user_id"] in first_seen:
                truth_first = datetime.fromisoformat(person["first_seen_at"])
                assert abs((first_seen[person["user_id"]] - truth_first).total_seconds()) < 1
    if "history_from_1997" in shapes:
        assert first_day == date(1997, 3, 1)
    if "invalid_emails" in shapes:
        invalid = {p["email"] for p in people if p.get("email_valid") == "False"}
        assert contacts & invalid, (
            "the audience holds invalid addresses; the engine holds them back"
        )
        assert not arrived & invalid
    if "own_event_names" in shapes:
        assert "product_view" in by_name and "View Item" not in by_name
        warned = {
            line.split("event_names_matched: '")[1].split("' matched")[0]
            for line in lines
            if "event_names_matched: '" in line
        }
        # the app's names are found; only names with no event warn (with no revenue, there is
        # no purchase at all; the seed's weights still name the generator's events)
        assert not warned & {"product_view", "add_to_cart", "checkout", "sign_up"}
        assert not warned & set(by_name) and "View Item" in warned
