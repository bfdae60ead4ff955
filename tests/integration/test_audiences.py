"""The audiences hold exactly the people their definitions name, recomputed here in pandas.

The dataset of test_analytics (600 people over 40 days, seed 21, faults) is loaded and built once;
each test recomputes an audience from the core tables (fct_events, fct_orders, dim_users) and the
analytics traits it is defined on, and asserts the membership sets (and delivered traits) are
equal. The pandas code shares nothing with the SQL but the rules in docs/metrics.md "Audiences":
the observation end is the last event (no as_of), contacts are people with an email (one per
email), windows are counted back from the observation end. The window edges (a cart exactly 24
hours before the end, a purchase at the same second, as_of) are dbt unit tests beside the models,
run here too. The sync declarations are checked against the built tables' columns.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from sources.warehouse import connect
from syncs.spec import specs_from_manifest
from tests.conftest import run_dbt

AUDIENCES = (
    "aud_contact_traits",
    "aud_at_risk_high_value",
    "aud_champions",
    "aud_new_customers",
    "aud_win_back",
    "aud_cart_abandoners",
)
# The shipped defaults of the audience_* vars (dbt_project.yml), written out.
NEW_CUSTOMER_DAYS = 14
CART_WINDOW = pd.Timedelta(hours=24)
CART_EVENTS = {"Add To Cart", "Checkout Started"}
HISTORICAL_SHARE = 0.2
SLIPPING_SEGMENTS = {"At Risk", "Can't Lose Them", "About To Sleep"}
SLIPPING_BANDS = {"high", "medium"}
LIFECYCLE_NEW_DAYS, LIFECYCLE_ACTIVE_DAYS = 30, 30  # user_lifecycle's defaults


@pytest.fixture(scope="module")
def built(analytics_build):
    """test_analytics' build (tests/integration/conftest.py), read-only; yields the connection,
    the dbt root (for the manifest) and the warehouse path."""
    root, warehouse = analytics_build
    con = connect(warehouse, read_only=True)
    yield con, root, warehouse
    con.close()


@pytest.fixture(scope="module")
def con(built):
    return built[0]


def table(con, name: str) -> pd.DataFrame:
    return con.execute(f"select * from {name}").df()


def members(con, audience: str) -> set[str]:
    return set(con.execute(f"select user_id from audiences.{audience}").df()["user_id"])


@pytest.fixture(scope="module")
def events(con) -> pd.DataFrame:
    return con.execute(
        "select event_id, user_id, event_name, event_at, product_id, product_category "
        "from core.fct_events"
    ).df()


@pytest.fixture(scope="module")
def end(events) -> pd.Timestamp:
    """The observation end without as_of: the last event (inclusive)."""
    return events["event_at"].max()


@pytest.fixture(scope="module")
def contacts(con, events) -> pd.DataFrame:
    """People with an email, one per email (the one seen last, then the smallest user_id), with
    their first and last active days and observed purchases, from the core tables only."""
    users = con.execute(
        "select user_id, email, first_name, last_name from core.dim_users where email is not null"
    ).df()
    days = events.assign(day=events["event_at"].dt.normalize()).groupby("user_id")["day"]
    users = users.join(days.min().rename("first_day"), on="user_id")
    users = users.join(days.max().rename("last_day"), on="user_id")
    users = users.sort_values(["email", "last_day", "user_id"], ascending=[True, False, True])
    users = users.drop_duplicates("email").set_index("user_id")
    orders = con.execute(
        "select user_id, ordered_at, is_refund, "
        "cast(round(revenue * 100) as bigint) as revenue_cents from core.fct_orders"
    ).df()
    purchases = orders[~orders["is_refund"]].groupby("user_id")
    users = users.join(purchases.size().rename("orders"))
    users = users.join(purchases["ordered_at"].min().rename("first_order_at"))
    users = users.join(orders.groupby("user_id")["revenue_cents"].sum().rename("revenue_cents"))
    return users.fillna({"orders": 0, "revenue_cents": 0})


@pytest.fixture(scope="module")
def traits(con, contacts) -> pd.DataFrame:
    """The analytics traits of each contact (left joins: null for non-customers)."""
    frame = contacts
    for name, columns in (
        ("analytics.customer_ltv", "ltv_tier, predicted_ltv_12m, historical_ltv"),
        ("analytics.user_rfm", "rfm_segment"),
        ("analytics.churn_risk", "churn_band, churn_score"),
        ("analytics.user_lifecycle", "lifecycle_stage"),
        ("analytics.user_engagement_scores", "engagement_band"),
    ):
        frame = frame.join(
            con.execute(f"select user_id, {columns} from {name}").df().set_index("user_id")
        )
    return frame


def test_contact_traits_are_every_emailed_person_once_with_their_traits(con, traits):
    got = table(con, "audiences.aud_contact_traits").set_index("user_id").sort_index()
    want = traits.sort_index()
    assert list(got.index) == list(want.index)
    assert len(got) > 200  # of 600 people; most identified people have a profile email
    assert got["email"].is_unique and got["email"].notna().all()
    assert (got["email"] == want["email"]).all()
    assert (got["first_name"] == want["first_name"]).all()
    for column in ("ltv_tier", "rfm_segment", "lifecycle_stage", "churn_band", "engagement_band"):
        assert got[column].fillna("-").equals(want[column].fillna("-")), column
    assert (got["lifetime_orders"] == want["orders"]).all()
    assert (got["last_seen_date"].astype("datetime64[ns]") == want["last_day"]).all()
    # money to the cent, non-customers 0; the prediction null for non-customers
    assert np.allclose(got["historical_ltv"], want["revenue_cents"] / 100, atol=0.006)
    assert got["predicted_ltv_12m"].isna().equals(want["predicted_ltv_12m"].isna())
    assert np.allclose(
        got["predicted_ltv_12m"].dropna(), want["predicted_ltv_12m"].dropna().round(2), atol=1e-9
    )
    assert np.allclose(got["churn_score"].dropna(), want["churn_score"].dropna(), atol=5e-4)
    customers = got["ltv_tier"].notna()
    assert 0 < customers.sum() < len(got)  # both kinds of contact are exercised
    assert (got.loc[~customers, "lifetime_orders"] == 0).all()


def test_every_audience_member_is_a_contact_with_the_same_email(con):
    contacts = table(con, "audiences.aud_contact_traits").set_index("user_id")["email"]
    for audience in AUDIENCES[1:]:
        frame = table(con, f"audiences.{audience}").set_index("user_id")
        assert frame["email"].is_unique, audience
        assert (frame["email"] == contacts.reindex(frame.index)).all(), audience


def test_champions_are_the_champion_contacts(con, traits):
    want = set(traits.index[traits["rfm_segment"] == "Champions"])
    assert members(con, "aud_champions") == want
    assert len(want) >= 5


def test_at_risk_high_value_are_valuable_customers_who_are_slipping(con, traits):
    ltv = con.execute("select user_id, historical_ltv from analytics.customer_ltv").df()
    # customers with at least this revenue (the tie block counted); ties at the cut are all out
    at_or_above = ltv["historical_ltv"].apply(lambda v: (ltv["historical_ltv"] >= v).sum())
    top = set(ltv["user_id"][at_or_above <= HISTORICAL_SHARE * len(ltv)])
    valuable = (traits["ltv_tier"] == "high") | traits.index.isin(top)
    slipping = traits["rfm_segment"].isin(SLIPPING_SEGMENTS) | traits["churn_band"].isin(
        SLIPPING_BANDS
    )
    want = set(traits.index[valuable & slipping])
    got = table(con, "audiences.aud_at_risk_high_value").set_index("user_id")
    assert set(got.index) == want
    assert len(want) >= 3
    assert set(got.index[got["is_top_historical_value"]]) == want & top
    # the historical-value arm adds people the LTV tier alone would miss
    assert (got["ltv_tier"] != "high").any()


def test_new_customers_first_bought_in_the_last_14_days(con, contacts, end):
    first_day = contacts["first_order_at"].dt.normalize()
    days = (end.normalize() - first_day).dt.days
    want = set(contacts.index[days.notna() & (days < NEW_CUSTOMER_DAYS)])
    got = table(con, "audiences.aud_new_customers").set_index("user_id")
    assert set(got.index) == want
    assert len(want) >= 10
    assert (got["days_since_first_order"] == days.reindex(got.index)).all()
    assert got["days_since_first_order"].between(0, NEW_CUSTOMER_DAYS - 1).all()


def test_win_back_are_contacts_inactive_for_30_days_or_more(con, contacts, end):
    """at_risk or churned by user_lifecycle's rules: not new (first active >= 30 days ago) and
    last active >= 30 days ago (the reactivated and active stages need a recent day)."""
    today = end.normalize()
    since_first = (today - contacts["first_day"]).dt.days
    since_last = (today - contacts["last_day"]).dt.days
    dormant = (since_first >= LIFECYCLE_NEW_DAYS) & (since_last >= LIFECYCLE_ACTIVE_DAYS)
    want = set(contacts.index[dormant])
    got = table(con, "audiences.aud_win_back").set_index("user_id")
    assert set(got.index) == want
    assert len(want) >= 5
    assert (got["days_since_last_seen"] == since_last.reindex(got.index)).all()
    # 40 days of data: nobody can be 91+ days gone, so all are at_risk
    assert set(got["lifecycle_stage"]) == {"at_risk"}


def test_cart_abandoners_carted_in_the_last_24_hours_and_did_not_buy_after(
    con, contacts, events, end
):
    window = events[
        events["event_name"].isin(CART_EVENTS)
        & (events["event_at"] >= end - CART_WINDOW)
        & (events["event_at"] <= end)
    ]
    last = window.sort_values(["event_at", "event_id"]).groupby("user_id").tail(1)
    last = last.set_index("user_id")
    purchases = events[events["event_name"] == "Purchase"].join(
        last["event_at"].rename("cart_at"), on="user_id", how="inner"
    )
    bought = set(purchases["user_id"][purchases["event_at"] >= purchases["cart_at"]])
    want = (set(last.index) - bought) & set(contacts.index)
    got = table(con, "audiences.aud_cart_abandoners").set_index("user_id")
    assert set(got.index) == want
    assert len(want) >= 5
    assert len(bought & set(contacts.index)) >= 3  # the purchase rule removes people here
    expected = last.loc[sorted(want)]
    got = got.loc[sorted(want)]
    assert (got["last_cart_at"] == expected["event_at"]).all()
    assert (got["cart_event"] == expected["event_name"]).all()
    assert got["cart_product_id"].fillna("-").equals(expected["product_id"].fillna("-"))
    assert (got["cart_product_category"] == expected["product_category"]).all()
    in_window = window.groupby("user_id").size().reindex(got.index)
    assert (got["cart_events_in_window"] == in_window).all()


def test_audience_unit_tests_pass_on_window_edges_and_as_of(built):
    """The dbt unit tests beside the audience models: cart window edges (exactly 24 hours, a
    purchase at the same second, after the end), new-customer days, as_of, one row per email,
    ties at the historical-value cut."""
    _, root, warehouse = built
    copy = root / "unit_tests.duckdb"  # dbt opens its warehouse for writing; ours is held open
    shutil.copyfile(warehouse, copy)
    run_dbt(["test", "--select", "path:models/audiences,test_type:unit"], copy, root)
    results = json.loads((root / "target" / "run_results.json").read_text())["results"]
    ran = {r["unique_id"].split(".")[-1]: r["status"] for r in results}
    assert len(ran) == 7 and set(ran.values()) == {"pass"}, ran
    assert "aud_cart_abandoners__window_edges_and_purchases_with_as_of" in ran
    assert "aud_at_risk_high_value__ties_at_the_historical_cut_are_all_out" in ran
    assert "aud_at_risk_high_value__historical_rule_while_ltv_is_not_estimable" in ran


HUBSPOT_DEFAULT_PROPERTIES = {"email", "firstname", "lastname"}
SHIPPED_LISTS = {
    "aud_contact_traits": None,
    "aud_at_risk_high_value": "Recur: At-risk high value",
    "aud_champions": "Recur: Champions",
    "aud_new_customers": "Recur: New customers",
    "aud_win_back": "Recur: Win back",
    "aud_cart_abandoners": "Recur: Cart abandoners (24h)",
}
SHIPPED_MODES = {
    "aud_contact_traits": "upsert",
    "aud_at_risk_high_value": "upsert",
    "aud_champions": "upsert",
    "aud_new_customers": "upsert",
    "aud_win_back": "update",
    "aud_cart_abandoners": "upsert",
}


def test_each_audience_declares_its_syncs_in_the_manifest_on_real_columns(built):
    """dbt merges the folder's meta (dagster group) with the model's (recur.syncs); every field
    maps to a column of the built table, HubSpot syncs match on email with recur_ properties."""
    con, root, _ = built
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    nodes = {
        n["name"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["name"].startswith("aud_")
    }
    assert set(nodes) == set(AUDIENCES)
    files, braze = [], []
    for name, node in nodes.items():
        meta = node["config"]["meta"]
        assert meta["dagster"] == {"group": "audiences"}, name
        assert node["schema"] == "audiences" and node["config"]["materialized"] == "table"
        columns = set(table(con, f"audiences.{name}").columns)
        syncs = meta["recur"]["syncs"]
        hubspot = [s for s in syncs if s["destination"] == "hubspot"]
        assert len(hubspot) == 1, name
        assert hubspot[0]["mode"] == SHIPPED_MODES[name]
        assert hubspot[0].get("list") == SHIPPED_LISTS[name]
        for sync in syncs:
            assert sync["match_key"] in columns, (name, sync)
            assert set(sync["fields"].values()) <= columns, (name, sync)
            if sync["destination"] == "hubspot":
                assert sync["object"] == "contacts" and sync["match_key"] == "email"
                assert sync["mode"] in {"upsert", "update", "mirror"}
                for prop in sync["fields"]:
                    assert prop in HUBSPOT_DEFAULT_PROPERTIES or re.fullmatch(
                        r"recur_[a-z0-9_]+", prop
                    ), (name, prop)
            elif sync["destination"] == "braze":
                assert sync["object"] == "users" and sync["match_key"] == "user_id"
                braze.append(name)
            else:
                assert sync["destination"] == "file" and sync["match_key"] == "user_id"
                files.append((name, sync["format"]))
    assert sorted(files) == [
        ("aud_cart_abandoners", "csv"),
        ("aud_champions", "csv"),
        ("aud_contact_traits", "parquet"),
    ]
    # and the sync engine reads them: one spec per declaration, each with its own asset name
    assert braze == ["aud_win_back"]  # the demo's second channel
    specs = [s for s in specs_from_manifest(manifest) if s.audience in nodes]
    assert len(specs) == len(AUDIENCES) + len(files) + len(braze) == 10
    assert len({s.name for s in specs}) == 10
