"""checks/event_names.py: configured event names that matched nothing, with the closest seen."""

from __future__ import annotations

import duckdb

from checks.event_names import (
    EventNameWarning,
    closest_names,
    configured_name_warnings,
    unmatched,
)

SEEN = ["product_view", "add_to_cart", "checkout", "purchase", "purchase_completed", "sign_up"]


def test_closest_names_ignore_case_and_separators():
    assert closest_names("Purchase", SEEN)[:2] == ["purchase", "purchase_completed"]
    assert closest_names("Add To Cart", SEEN)[0] == "add_to_cart"
    assert closest_names("Sign Up", SEEN) == ["sign_up"]
    assert closest_names("Checkout Started", SEEN)[0] == "checkout"
    assert closest_names("Logged In", SEEN) == []


def test_only_names_not_seen_exactly_warn_once_each_with_every_setting():
    configured = [
        ("funnels.purchase.steps[1]", "product_view"),
        ("funnels.purchase.steps[4]", "Purchase"),
        ("audience_purchase_event", "Purchase"),
        ("audience_cart_events[1]", "add_to_cart"),
        ("event_weights (seed)", "Logged In"),
    ]
    found = unmatched(configured, SEEN)
    assert found == [
        EventNameWarning(
            "Purchase",
            ("funnels.purchase.steps[4]", "audience_purchase_event"),
            ("purchase", "purchase_completed"),
        ),
        EventNameWarning("Logged In", ("event_weights (seed)",), ()),
    ]
    assert found[0].message == (
        "'Purchase' matched no event; closest: purchase, purchase_completed "
        "(set in funnels.purchase.steps[4], audience_purchase_event)"
    )
    assert found[1].message.startswith("'Logged In' matched no event; no similar name seen")


def test_every_name_seen_gives_no_warning():
    assert unmatched([("audience_purchase_event", "purchase")], SEEN) == []


def test_warehouse_warnings_read_the_recorded_settings_and_the_events():
    con = duckdb.connect()
    assert configured_name_warnings(con) == []  # nothing built yet: no warning, no error
    con.execute("create schema analytics; create schema core")
    con.execute(
        "create table analytics.event_name_settings as select * from (values "
        "(1, 'funnels.signup.steps[1]', 'Sign Up'), (2, 'audience_purchase_event', 'purchase')) "
        "as t(position, setting, event_name)"
    )
    con.execute(
        "create table core.fct_events as select * from (values ('u', 'sign_up'), "
        "('u', 'purchase')) as t(user_id, event_name)"
    )
    assert configured_name_warnings(con) == [
        EventNameWarning("Sign Up", ("funnels.signup.steps[1]",), ("sign_up",))
    ]
