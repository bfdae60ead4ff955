"""The whole pipeline on a clickstream nobody here wrote: retentioneering's e-commerce events
(tests/ecom_clickstream.py), as Mixpanel daily exports with their 2024 dates and the app's own
event names, configured through RECUR_DBT_VARS. Every number is computed again with pandas from
the CSV in the retentioneering wheel: people, events per name, sessions, funnels, purchasers.

All 600 people and 31,106 events over 177 export days (no sample); about 2 minutes.
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

from sources.warehouse import connect
from tests import ecom_clickstream as ecom


@pytest.fixture(scope="module")
def ecom_run(tmp_path_factory):
    """`recur run` (orchestration.runner.run, everything) on the exports, once for the module."""
    import dagster as dg

    root = tmp_path_factory.mktemp("ecom")
    frame = ecom.events()
    files = ecom.write_mixpanel_exports(root / "exports", frame)
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECUR_EXPORTS", str(root / "exports"))
        patch.setenv("RECUR_WAREHOUSE", str(root / "warehouse.duckdb"))
        patch.setenv("RECUR_STATE", str(root / "state.duckdb"))
        patch.setenv("RECUR_DBT_VARS", json.dumps(ecom.DBT_VARS))
        for name in (
            "RECUR_AS_OF",
            "DAGSTER_HOME",
            "MIXPANEL_SERVICE_ACCOUNT_SECRET",
            "MIXPANEL_API_SECRET",
            "AMPLITUDE_API_KEY",
        ):
            patch.delenv(name, raising=False)

        from orchestration.definitions import build_defs
        from orchestration.runner import run

        report = run(
            build_defs(), dagster_instance=dg.DagsterInstance.ephemeral(), echo=lines.append
        )
    return root, frame, files, report, lines


def query(root, sql: str) -> list[tuple]:
    with connect(root / "warehouse.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_run_succeeds_and_warns_only_about_the_seeds_generator_names(ecom_run):
    root, frame, files, report, lines = ecom_run
    assert report.failed == [], "\n".join(lines)
    assert [label for label, _, _ in report.runs] == [
        "mixpanel_days (177 days, 2024-01-04 to 2024-06-29)",
        "unpartitioned",
        "reports",
    ]
    assert len(files) == frame["timestamp"].dt.date.nunique() == 177
    # every configured name matched an event; what is left are the seed event_weights' names
    warnings = [line for line in lines if "warning:" in line]
    assert warnings and all("(set in event_weights (seed))" in line for line in warnings)
    page = (root / "reports" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 8  # reports/report.py draws eight charts


def test_every_line_is_loaded_once(ecom_run):
    root, frame, files, _, _ = ecom_run
    ledger = query(
        root,
        "select count(*), sum(lines_read), sum(loaded), sum(duplicates), sum(quarantined) "
        "from raw.load_ledger where source = 'mixpanel'",
    )
    assert ledger == [(len(files), len(frame), len(frame), 0, 0)]
    assert len(frame) == 31_106


def test_people_events_and_events_per_name_match_the_csv(ecom_run):
    root, frame, _, _, _ = ecom_run
    [(events, people, first, last)] = query(
        root,
        "select count(*), count(distinct user_id), min(event_at), max(event_at) from core.fct_events",
    )
    assert (events, people) == (len(frame), frame["user_id"].nunique()) == (31_106, 600)
    assert (first, last) == (frame["timestamp"].min(), frame["timestamp"].max())
    per_name = dict(query(root, "select event_name, count(*) from core.fct_events group by 1"))
    assert per_name == frame["event"].value_counts().to_dict()
    assert len(per_name) == 19  # home, catalog, product_view, ..., payment_error, checkout_bug

    users = query(
        root, "select user_id, first_seen_at, last_seen_at, lifetime_events from core.dim_users"
    )
    grouped = frame.groupby("user_id")["timestamp"]
    expected = pd.DataFrame({"first": grouped.min(), "last": grouped.max(), "n": grouped.size()})
    assert sorted(users) == [
        (user, row.first, row.last, row.n) for user, row in expected.sort_index().iterrows()
    ]


def test_sessions_follow_the_gap_rule_and_equal_the_apps_own(ecom_run):
    root, frame, _, _, _ = ecom_run
    frame = frame.assign(session=ecom.gap_sessions(frame))
    grouped = frame.groupby(["user_id", "session"])["timestamp"]
    expected = Counter(
        zip(grouped.min().index.get_level_values(0), grouped.min(), grouped.size(), strict=True)
    )
    sessions = query(root, "select user_id, started_at, events from core.fct_sessions")
    assert Counter(sessions) == expected
    # every session of the app's session_id is one of Recur's: no gap over 30 minutes inside one,
    # none across midnight, and no two on one day for a person
    assert len(sessions) == frame["session_id"].nunique() == 3_605
    [(lifetime_sessions,)] = query(root, "select sum(lifetime_sessions) from core.dim_users")
    assert lifetime_sessions == 3_605


def test_funnels_of_the_apps_own_steps_match_the_csv(ecom_run):
    root, frame, _, _, _ = ecom_run
    rows = query(
        root,
        "select funnel_name, step_name, users, conversion_from_start "
        "from analytics.funnel_conversion order by funnel_name, step_number",
    )
    for funnel in ecom.DBT_VARS["funnels"]:
        users = ecom.funnel_users(frame, funnel["steps"], funnel["window_days"])
        got = [row for row in rows if row[0] == funnel["name"]]
        assert [(step, n) for _, step, n, _ in got] == list(
            zip(funnel["steps"], users, strict=True)
        )
        assert [share for *_, share in got] == pytest.approx([n / users[0] for n in users])
    checkout = [n for name, _, n, _ in rows if name == "checkout"]
    assert checkout == [600, 482, 154, 86, 30, 12]


def test_purchasers_and_cart_events_are_counted_by_the_configured_names(ecom_run):
    root, frame, _, _, _ = ecom_run
    settings = {
        setting: (name, events, people)
        for _, setting, name, events, people in query(
            root, "select * from analytics.event_name_settings"
        )
    }
    purchases = frame[frame["event"] == "purchase"]
    assert settings["audience_purchase_event"] == (
        "purchase",
        len(purchases),
        purchases["user_id"].nunique(),
    )
    assert settings["audience_purchase_event"] == ("purchase", 470, 328)
    for i, name in enumerate(ecom.DBT_VARS["audience_cart_events"], start=1):
        rows = frame[frame["event"] == name]
        assert settings[f"audience_cart_events[{i}]"] == (
            name,
            len(rows),
            rows["user_id"].nunique(),
        )


def test_no_revenue_means_no_orders_and_the_ltv_model_says_why(ecom_run):
    root, frame, _, _, _ = ecom_run
    assert query(root, "select count(*) from core.fct_orders") == [(0,)]
    assert query(
        root,
        "select count(*), sum(lifetime_orders), sum(lifetime_revenue) from core.dim_users",
    ) == [(600, 0, 0)]
    statuses = {
        row[0] for row in query(root, "select model_status from analytics.ltv_model_params")
    }
    assert statuses == {"not_estimable"}
    assert query(root, "select count(*) from analytics.user_rfm") == [(0,)]


def test_retention_cohorts_are_the_first_seen_days(ecom_run):
    root, frame, _, _, _ = ecom_run
    cohorts = dict(
        query(
            root,
            "select cohort_date, cohort_users from analytics.retention_cohorts where period = 0",
        )
    )
    first_day = frame.groupby("user_id")["timestamp"].min().dt.date
    assert cohorts == first_day.value_counts().to_dict()
    assert sum(cohorts.values()) == 600
