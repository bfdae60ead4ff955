"""An app's own event names: funnels, cart and purchase events named by the user, and warnings
for configured names that matched nothing (with the closest names seen).

A tiny hand-written clickstream (five people, an app's snake_case event names) is loaded and
built twice: once with the app's names passed as dbt vars (the funnel numbers are worked out by
hand below), once with the default (generator's) names, which match none of its funnel events.
"""

from __future__ import annotations

import json

import pytest

from sources.warehouse import connect
from tests.conftest import (
    APP_EVENT_VARS,
    load_exports,
    mixpanel_line,
    run_dbt,
    write_mixpanel_day,
)

T = 1767607200  # 2026-01-05 10:00:00 UTC
H, D = 3600, 86400

#: (person, event, seconds after T, revenue)
EVENTS = [
    ("a", "sign_up", 0, None),
    ("a", "product_view", 1 * H, None),
    ("a", "add_to_cart", 2 * H, None),
    ("a", "checkout", 3 * H, None),
    ("a", "purchase", 4 * H, 20),
    ("b", "product_view", 0, None),
    ("b", "add_to_cart", 1 * D, None),
    ("c", "product_view", 0, None),
    ("c", "add_to_cart", H // 2, None),
    ("c", "checkout", 1 * H, None),
    ("c", "purchase", 8 * D, 15),  # after the 7-day window from c's product_view
    ("d", "sign_up", 0, None),
    ("d", "purchase", 2 * D, 10),
    ("e", "app_open", 1 * D, None),
]
# Repeat buyers who never view a product or sign up (outside both funnels), so that the LTV
# models have repeat purchases to fit.
EVENTS += [
    (f"r{n}", "purchase", day * D + n * H, 5 + n + day)
    for n, days in enumerate([(0, 2), (0, 3, 7), (1, 5), (0, 1, 4, 9), (2, 6), (0, 8), (3,), (1,)])
    for day in days
]

APP_VARS = APP_EVENT_VARS


def write_exports(root):
    by_day: dict[str, list[str]] = {}
    for n, (person, event, offset, revenue) in enumerate(EVENTS):
        props = {"distinct_id": person, "$insert_id": f"i{n}"}
        if revenue is not None:
            props["revenue"] = revenue
        day = f"2026-01-{5 + offset // D:02d}"
        by_day.setdefault(day, []).append(mixpanel_line(event, time=T + offset, **props))
    for day, lines in by_day.items():
        write_mixpanel_day(root / "exports", day, lines)
    return root / "exports"


def build(root, vars_: dict | None):
    exports = write_exports(root)
    warehouse = root / "warehouse.duckdb"
    load_exports(warehouse, exports)
    args = ["build", "--exclude", "test_type:unit"]
    if vars_ is not None:
        args += ["--vars", json.dumps(vars_)]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RECUR_AS_OF", raising=False)
        run_dbt(args, warehouse, root)  # data tests included: every one must pass
    return warehouse


@pytest.fixture(scope="module")
def app_named(tmp_path_factory):
    return build(tmp_path_factory.mktemp("app_names"), APP_VARS)


@pytest.fixture(scope="module")
def default_named(tmp_path_factory):
    return build(tmp_path_factory.mktemp("default_names"), None)


def funnel_rows(warehouse, funnel):
    with connect(warehouse, read_only=True) as con:
        return con.execute(
            """select step_name, users, conversion_from_previous, conversion_from_start,
                      median_seconds_from_previous, median_seconds_from_start
               from analytics.funnel_conversion where funnel_name = ? order by step_number""",
            [funnel],
        ).fetchall()


def test_app_event_names_give_the_hand_counted_funnels(app_named):
    # purchase funnel, 7 days: a, b, c view; all three add to cart (a 1 h, b 1 d, c 30 min
    # after viewing: median 1 h); a and c check out (1 h and 30 min after the cart: median 45 min;
    # 2 h and 1 h after viewing: median 1.5 h); only a purchases in the window (1 h after her
    # checkout, 3 h after her view; c's purchase comes 8 days after her view).
    assert funnel_rows(app_named, "purchase") == [
        ("product_view", 3, None, 1.0, None, None),
        ("add_to_cart", 3, 1.0, 1.0, 3600, 3600),
        ("checkout", 2, pytest.approx(2 / 3), pytest.approx(2 / 3), 2700, 5400),
        ("purchase", 1, 0.5, pytest.approx(1 / 3), 3600, 10800),
    ]
    # sign up > purchase, 30 days: a after 4 h, d after 2 days.
    assert funnel_rows(app_named, "signup_to_purchase") == [
        ("sign_up", 2, None, 1.0, None, None),
        ("purchase", 2, 1.0, 1.0, 93600, 93600),
    ]


def test_app_event_names_leave_no_warning_for_the_names_they_set(app_named):
    from checks.event_names import configured_name_warnings

    with connect(app_named, read_only=True) as con:
        warnings = configured_name_warnings(con)
    # only the seed's engagement weights (the generator's names, not changed here) warn
    assert {w.settings for w in warnings} == {("event_weights (seed)",)}
    assert {w.event_name for w in warnings} >= {"Purchase", "Page Viewed"}


def test_default_names_on_app_data_build_with_empty_steps(default_named):
    rows = funnel_rows(default_named, "purchase")
    assert [r[0] for r in rows] == ["View Item", "Add To Cart", "Checkout Started", "Purchase"]
    # nobody reached any step: 0 people, 0 conversion, no times
    assert [r[1:] for r in rows] == [
        (0, None, 0.0, None, None),
        (0, 0.0, 0.0, None, None),
        (0, 0.0, 0.0, None, None),
        (0, 0.0, 0.0, None, None),
    ]


def test_default_names_on_app_data_warn_with_the_closest_names_seen(default_named):
    from checks.event_names import configured_name_warnings

    with connect(default_named, read_only=True) as con:
        warnings = {w.event_name: w for w in configured_name_warnings(con)}
    assert warnings["Purchase"].closest[0] == "purchase"
    assert warnings["Add To Cart"].closest[0] == "add_to_cart"
    assert warnings["Checkout Started"].closest[0] == "checkout"
    assert warnings["Sign Up"].closest[0] == "sign_up"
    assert "View Item" in warnings
    assert "audience_purchase_event" in warnings["Purchase"].settings
    assert "'Purchase' matched no event; closest: purchase" in warnings["Purchase"].message


def test_recur_run_prints_the_warnings_and_dagster_and_the_report_show_them(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.definitions import build_defs
    from orchestration.runner import run

    exports = write_exports(tmp_path)
    monkeypatch.setenv("RECUR_EXPORTS", str(exports))
    monkeypatch.setenv("RECUR_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("RECUR_STATE", str(tmp_path / "state.duckdb"))
    monkeypatch.delenv("RECUR_AS_OF", raising=False)
    # the app's purchase and cart events through the environment; the funnels keep the defaults
    monkeypatch.setenv(
        "RECUR_DBT_VARS",
        json.dumps({k: APP_VARS[k] for k in ("audience_cart_events", "audience_purchase_event")}),
    )
    for name in ("MIXPANEL_SERVICE_ACCOUNT_SECRET", "MIXPANEL_API_SECRET", "AMPLITUDE_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    instance = dg.DagsterInstance.ephemeral()
    lines: list[str] = []
    report = run(build_defs(), dagster_instance=instance, echo=lines.append)
    assert report.failed == []

    printed = "\n".join(lines)
    assert (
        "warning: analytics/event_name_settings event_names_matched: 'Purchase' matched no "
        "event; closest: purchase (set in funnels.purchase.steps[4], "
        "funnels.signup_to_purchase.steps[2], event_weights (seed))"
    ) in printed
    assert "'Add To Cart' matched no event; closest: add_to_cart" in printed
    assert "audience_purchase_event" not in printed  # RECUR_DBT_VARS reached dbt

    key = dg.AssetCheckKey(dg.AssetKey(["analytics", "event_name_settings"]), "event_names_matched")
    record = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)[0]
    evaluation = record.event.dagster_event.event_specific_data
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert any(
        text.startswith("'Checkout Started' matched no event; closest: checkout")
        for text in evaluation.metadata["warnings"].value
    )

    page = (tmp_path / "reports" / "report.html").read_text()
    assert "Event names" in page and "Checkout Started" in page
