"""The quality suites on tiny warehouses: each passes on good data and fails, with the failing rows
and the numbers, on bad data planted in it."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from checks import (
    Audience,
    CheckError,
    Sources,
    SuiteError,
    ThresholdError,
    Thresholds,
    audiences_from_manifest,
    run_suite,
)
from checks.audiences import not_empty_suite, size_change_suite, sync_emails_suite
from checks.marts import (
    churn_scores_suite,
    ltv_parameters_suite,
    order_revenue_suite,
    people_have_events_suite,
    rfm_segments_suite,
)
from checks.raw import events_suite, load_rates_suite
from sources.warehouse import connect, ensure_raw_schema
from syncs.spec import SyncSpec
from syncs.state import StateStore

T = Thresholds()
AUDIENCE = Audience("audiences", "aud_test", ("email",))


@pytest.fixture
def wh(tmp_path: Path):
    """A warehouse file with the raw schema and one execute-and-close helper: suites open the file
    read-only, so no connection may stay open while they run."""
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        ensure_raw_schema(con)
        con.execute("create schema core; create schema analytics; create schema audiences")

    def sql(statement: str, rows: list[tuple] | None = None) -> None:
        with connect(path) as con:
            if rows is None:
                con.execute(statement)
            else:
                con.executemany(statement, rows)

    sql.sources = Sources(path, tmp_path / "state.duckdb")  # type: ignore[attr-defined]
    return sql


def run(wh, suite):
    return run_suite(suite, wh.sources)


def failed(outcome) -> dict[str, dict]:
    return {e.label: e.observed for e in outcome.expectations if not e.success}


# -- raw events --------------------------------------------------------------------------------


def add_mixpanel(wh, rows):
    """rows: (event_at, distinct_id, line_number)."""
    wh(
        "insert into raw.mixpanel_events (event_name, event_at, distinct_id, event_key, "
        "properties, partition, source_file, line_number, loaded_at) "
        "values ('Page Viewed', ?, ?, 'k' || ?, '{}', cast(? as date), '2026-01-01.jsonl', ?, now())",
        [(at, who, n, at.date() if at.year > 2000 else "2026-01-01", n) for at, who, n in rows],
    )


def test_raw_events_with_a_person_and_a_sane_time_pass(wh):
    add_mixpanel(wh, [(datetime(2026, 1, 1, h), f"u{h}", h + 1) for h in range(5)])
    outcome = run(wh, events_suite("mixpanel", T))
    assert outcome.passed and outcome.rows == 5 and outcome.blocking
    assert outcome.failing_examples.empty


def test_a_raw_event_from_1999_or_without_a_person_fails_with_its_file_and_line(wh):
    add_mixpanel(
        wh,
        [
            (datetime(2026, 1, 1, 8), "u1", 1),
            (datetime(1999, 12, 31, 23), "u2", 2),
            (datetime(2026, 1, 1, 9), None, 3),
        ],
    )
    outcome = run(wh, events_suite("mixpanel", T))
    assert not outcome.passed
    problems = failed(outcome)
    times = next(v for k, v in problems.items() if k.startswith("event times"))
    assert (times["unexpected"], times["rows"]) == (1, 3)
    assert problems["every event names a person (a user or device id)"]["unexpected"] == 1
    examples = outcome.failing_examples
    assert sorted(examples["line_number"]) == [2, 3]
    assert set(examples["source_file"]) == {"2026-01-01.jsonl"}
    assert "1 of 3 rows" in outcome.description


def test_an_amplitude_event_more_than_a_day_ahead_fails(wh):
    ahead = datetime.now().replace(microsecond=0) + timedelta(days=3)
    wh(
        "insert into raw.amplitude_events (event_name, user_id, event_at, event_key, partition, "
        "source_file, line_number, loaded_at) values ('Page Viewed', 'u1', ?, ?, current_date, "
        "'a.zip/h0.json.gz', ?, now())",
        [(datetime(2026, 1, 1), "e1", 1), (ahead, "e2", 2)],
    )
    outcome = run(wh, events_suite("amplitude", T))
    assert not outcome.passed
    assert outcome.failing_examples["event_key"].tolist() == ["e2"]


def add_ledger(wh, source, rows):
    """rows: (day, lines_read, duplicates, quarantined)."""
    wh(
        "insert into raw.load_ledger values (?, ?, cast(? as date), ?, ?, ?, ?, now(), ?, 'sha')",
        [
            (source, f"{day}.jsonl", day, read, read - d - q, d, q, f"{day}.jsonl")
            for day, read, d, q in rows
        ],
    )


def test_load_rates_fail_on_the_day_with_too_many_quarantined_lines(wh):
    add_ledger(
        wh,
        "mixpanel",
        [
            ("2026-01-01", 1000, 10, 10),  # 1% and 1%
            ("2026-01-02", 200, 0, 30),  # 15% quarantined
            ("2026-01-03", 50, 0, 40),  # too few lines to judge
        ],
    )
    add_ledger(wh, "amplitude", [("2026-01-02", 1000, 900, 0)])  # another source's problem
    outcome = run(wh, load_rates_suite("mixpanel", T))
    assert not outcome.passed and outcome.rows == 2
    assert list(failed(outcome)) == ["at most 5% of a day's lines are quarantined"]
    (example,) = outcome.failing_examples.to_dict("records")
    assert str(example["partition"])[:10] == "2026-01-02"
    assert example["quarantine_rate"] == pytest.approx(0.15)
    assert outcome.params["max_quarantine_rate"] == 0.05


def test_load_rates_pass_under_the_thresholds(wh):
    add_ledger(wh, "amplitude", [("2026-01-01", 1000, 49, 50), ("2026-01-02", 100, 5, 5)])
    assert run(wh, load_rates_suite("amplitude", T)).passed


# -- core marts --------------------------------------------------------------------------------


def core_tables(wh, users, events):
    wh("create table core.dim_users (user_id varchar, lifetime_events bigint)")
    wh("create table core.fct_events (event_id varchar, user_id varchar)")
    wh("insert into core.dim_users values (?, ?)", users)
    if events:
        wh("insert into core.fct_events values (?, ?)", events)


def test_every_person_has_events(wh):
    core_tables(wh, [("amy", 2), ("ben", 1)], [("e1", "amy"), ("e2", "amy"), ("e3", "ben")])
    assert run(wh, people_have_events_suite(T)).passed


def test_a_person_without_events_fails_with_their_id(wh):
    core_tables(wh, [("amy", 2), ("ghost", 0)], [("e1", "amy"), ("e2", "amy")])
    outcome = run(wh, people_have_events_suite(T))
    assert not outcome.passed
    assert set(outcome.failing_examples["user_id"]) == {"ghost"}
    assert {k: v["unexpected"] for k, v in failed(outcome).items()} == {
        "every person has events in fct_events": 1,
        "every person has lifetime_events > 0": 1,
    }


def orders(wh, rows):
    wh(
        "create table core.fct_orders (order_id varchar, user_id varchar, ordered_at timestamp, "
        "is_refund boolean, revenue decimal(28, 6))"
    )
    wh("insert into core.fct_orders values (?, 'amy', '2026-01-01', ?, ?)", rows)


def test_purchases_and_refunds_with_the_right_signs_pass(wh):
    orders(wh, [("o1", False, 10.5), ("o2", True, -10.5), ("o3", False, 0)])
    assert run(wh, order_revenue_suite(T)).passed


def test_a_purchase_with_negative_revenue_fails(wh):
    orders(wh, [("o1", False, 10.5), ("o2", False, -3.25), ("o3", True, 4)])
    outcome = run(wh, order_revenue_suite(T))
    assert not outcome.passed
    examples = outcome.failing_examples.set_index("order_id")
    assert examples.loc["o2", "expectation"] == "purchases have revenue >= 0"
    assert examples.loc["o2", "revenue"] == -3.25
    assert examples.loc["o3", "expectation"] == "refunds have revenue <= 0"


# -- analytics ---------------------------------------------------------------------------------


def rfm(wh, counts: dict[str, int]):
    wh("create table analytics.user_rfm (user_id varchar, rfm_segment varchar)")
    rows = [(f"{s}-{i}", s) for s, n in counts.items() for i in range(n)]
    wh("insert into analytics.user_rfm values (?, ?)", rows)


def test_rfm_segments_spread_over_several_segments_pass(wh):
    rfm(wh, {"Champions": 40, "Lost": 40, "At Risk": 41})
    outcome = run(wh, rfm_segments_suite(T))
    assert outcome.passed and outcome.severity == "warning"


def test_one_rfm_segment_holding_most_customers_fails(wh):
    rfm(wh, {"Champions": 130, "Lost": 20})
    outcome = run(wh, rfm_segments_suite(T))
    assert not outcome.passed
    problems = failed(outcome)
    assert problems["no segment holds more than 80% of customers"]["unexpected"] == 1
    assert problems["at least 3 segments once there are more than 100 customers"] == {"observed": 2}
    (example,) = outcome.failing_examples.to_dict("records")
    assert example["rfm_segment"] == "Champions" and example["share"] == pytest.approx(0.8667)


def test_the_segment_count_rule_waits_for_more_than_100_customers(wh):
    rfm(wh, {"Champions": 50, "Lost": 50})
    assert run(wh, rfm_segments_suite(T)).passed


def ltv(wh, params):
    wh(
        "create table analytics.ltv_model_params (model varchar, parameter varchar, "
        "value double, time_unit varchar, customers double, model_status varchar, "
        "model_status_reason varchar)"
    )
    wh(
        "insert into analytics.ltv_model_params values (?, ?, ?, 'days', 100, 'fitted', null)",
        params,
    )


GOOD_LTV = [
    ("bgnbd", "r", 0.24),
    ("bgnbd", "alpha", 4.4),
    ("bgnbd", "a", 0.79),
    ("bgnbd", "b", 2.4),
    ("gamma_gamma", "p", 6.25),
    ("gamma_gamma", "q", 3.74),
    ("gamma_gamma", "gamma", 15.44),
]


def test_positive_finite_ltv_parameters_pass(wh):
    ltv(wh, GOOD_LTV)
    assert run(wh, ltv_parameters_suite(T)).passed


def test_infinite_negative_or_missing_ltv_parameters_fail(wh):
    bad = [p for p in GOOD_LTV if p[1] not in ("a", "alpha", "q")]
    ltv(wh, bad + [("bgnbd", "a", float("inf")), ("gamma_gamma", "q", -1.0)])
    outcome = run(wh, ltv_parameters_suite(T))
    assert not outcome.passed
    problems = failed(outcome)
    assert problems["every parameter is > 0 and finite"]["unexpected"] == 2
    assert problems["BG/NBD's r, alpha, a and b are fitted"] == {"missing": ["alpha"]}
    assert sorted(outcome.failing_examples["parameter"]) == ["a", "q"]


def test_the_observed_mean_order_value_stands_in_for_gamma_gamma(wh):
    ltv(wh, GOOD_LTV[:4] + [("observed", "mean_order_value", 28.7)])
    assert run(wh, ltv_parameters_suite(T)).passed


def test_a_not_estimable_ltv_model_passes_with_its_reason(wh):
    """No repeat buyer yet: one status row without parameters is a result (issue 11, item 2)."""
    wh(
        "create table analytics.ltv_model_params (model varchar, parameter varchar, "
        "value double, time_unit varchar, customers bigint, model_status varchar, "
        "model_status_reason varchar)"
    )
    reason = "no customer has a repeat purchase yet (0 of 12 customers)"
    wh(
        "insert into analytics.ltv_model_params values "
        "('bgnbd', null, null, 'days', 12, 'not_estimable', ?)",
        [(reason,)],
    )
    assert run(wh, ltv_parameters_suite(T)).passed
    wh("update analytics.ltv_model_params set model_status_reason = null")
    outcome = run(wh, ltv_parameters_suite(T))
    assert not outcome.passed and list(failed(outcome)) == ["a not-estimable model says why"]


def churn(wh, rows, status="fitted"):
    wh(
        "create table analytics.churn_risk (user_id varchar, churn_score double, "
        "churn_band varchar, model_status varchar)"
    )
    wh(f"insert into analytics.churn_risk values (?, ?, 'low', '{status}')", rows)


def test_customers_of_a_not_estimable_ltv_model_have_no_churn_score(wh):
    churn(wh, [("amy", None), ("ben", None)], status="not_estimable")
    assert run(wh, churn_scores_suite(T)).passed


def test_churn_scores_outside_0_1_or_missing_fail(wh):
    churn(wh, [("amy", 0.0), ("ben", 1.0), ("cat", 1.2), ("dan", None)])
    outcome = run(wh, churn_scores_suite(T))
    assert not outcome.passed
    assert outcome.failing_examples[["user_id", "expectation"]].values.tolist() == [
        ["dan", "every customer has a churn score"],
        ["cat", "churn scores lie in [0, 1]"],
    ]


# -- audiences ---------------------------------------------------------------------------------


def audience(wh, rows):
    wh("create or replace table audiences.aud_test (user_id varchar, email varchar, tier varchar)")
    if rows:
        wh("insert into audiences.aud_test values (?, ?, 'high')", rows)


def members(n: int) -> list[tuple]:
    return [(f"u{i}", f"p{i}@example.com") for i in range(n)]


HUBSPOT = SyncSpec("aud_test", "hubspot", "email", (("recur_tier", "tier"),))
FILE_BY_ID = SyncSpec("aud_test", "file", "user_id", (("user_id", "user_id"), ("tier", "tier")))
FILE_WITH_EMAIL = SyncSpec(
    "aud_test", "file", "user_id", (("user_id", "user_id"), ("email", "email"))
)


def summary(outcome) -> dict:
    return outcome.failing_examples.iloc[0].to_dict()


def test_valid_emails_pass_with_their_numbers(wh):
    audience(wh, members(3) + [("u9", " Mixed.Case+tag@Example.co.uk ")])
    suite = sync_emails_suite(HUBSPOT, T)
    frame = suite.read(wh.sources)
    assert frame[["members", "invalid", "invalid_share"]].values.tolist() == [[4, 0, 0.0]]
    assert frame["examples"][0] == []
    outcome = run(wh, suite)
    assert outcome.passed and outcome.blocking and outcome.asset == ("syncs", "aud_test_to_hubspot")
    assert outcome.params == {"max_invalid_email_share": 0.05, "min_members_for_email_share": 100}


def test_a_share_of_invalid_emails_under_the_threshold_passes_and_shows_them(wh):
    bad = [("u97", "not-an-email"), ("u98", "ada@example.com\n"), ("u99", "üñîçødé@exämple.com")]
    audience(wh, members(97) + bad)  # 3 of 100
    suite = sync_emails_suite(HUBSPOT, T)
    frame = suite.read(wh.sources)
    row = frame.iloc[0]
    assert (row["members"], row["invalid"], row["invalid_share"]) == (100, 3, 0.03)
    assert [(e["user_id"], e["email"], e["problem"]) for e in row["examples"]] == [
        ("u97", "not-an-email", "email is not a valid address"),
        ("u98", "ada@example.com\n", "email is not a valid address"),
        ("u99", "üñîçødé@exämple.com", "email is not a valid address"),
    ]
    assert run(wh, suite).passed


def test_a_share_above_the_threshold_blocks_with_count_share_and_examples(wh):
    bad = [(f"x{i}", f"broken-{i}") for i in range(8)] + [("x8", None)]
    audience(wh, members(91) + bad)  # 9 of 100, one without an address
    outcome = run(wh, sync_emails_suite(HUBSPOT, T))
    assert not outcome.passed and outcome.blocking
    row = summary(outcome)
    assert (row["members"], row["invalid"], row["invalid_share"]) == (100, 9, 0.09)
    assert row["max_invalid_share"] == 0.05
    shown = row["examples"]
    assert len(shown) == T.examples == 5
    assert [e["user_id"] for e in shown] == ["x0", "x1", "x2", "x3", "x4"]
    assert (
        outcome.description
        == "at most 5.0% of the members have an invalid email address: observed 0.09"
    )
    missing = sync_emails_suite(HUBSPOT, Thresholds(examples=20)).read(wh.sources)["examples"][0]
    assert {"user_id": "x8", "email": None, "problem": "no email"} in missing


def test_the_share_threshold_is_a_setting(wh):
    audience(wh, members(90) + [(f"x{i}", "nope") for i in range(10)])  # 10%
    assert not run(wh, sync_emails_suite(HUBSPOT, T)).passed
    wider = Thresholds.from_env({"RECUR_CHECK_MAX_INVALID_EMAIL_SHARE": "0.10"})
    assert wider.max_invalid_email_share == 0.10
    assert run(wh, sync_emails_suite(HUBSPOT, wider)).passed  # at the threshold: passes
    strict = Thresholds(max_invalid_email_share=0.0)
    audience(wh, members(99) + [("x", "nope")])
    assert not run(wh, sync_emails_suite(HUBSPOT, strict)).passed


def test_a_small_audience_is_not_blocked_by_the_share_of_one_bad_address(wh):
    audience(wh, members(8) + [("x", "nope")])  # 1 of 9 is 11%: chance, not a broken import
    suite = sync_emails_suite(HUBSPOT, T)
    assert run(wh, suite).passed
    assert suite.read(wh.sources)["invalid"][0] == 1  # counted and shown; the engine holds it back
    assert not run(wh, sync_emails_suite(HUBSPOT, Thresholds(min_members_for_email_share=9))).passed


def test_only_syncs_that_send_emails_get_the_email_rule(wh):
    assert sync_emails_suite(FILE_BY_ID, T) is None  # a user_id file never waits on emails
    audience(wh, members(5) + [(f"x{i}", "nope") for i in range(5)])
    every_size = Thresholds(min_members_for_email_share=1)
    outcome = run(wh, sync_emails_suite(FILE_WITH_EMAIL, every_size))  # it sends the email
    assert not outcome.passed
    assert summary(outcome)["examples"][0]["problem"] == "email <- email is not a valid address"
    audience(wh, members(5) + [("x", None)])  # an empty email field is not sent: not invalid
    assert run(wh, sync_emails_suite(FILE_WITH_EMAIL, T)).passed


def test_an_empty_audience_is_a_warning(wh):
    audience(wh, [])
    outcome = run(wh, not_empty_suite(AUDIENCE, T))
    assert not outcome.passed and outcome.severity == "warning"
    assert outcome.description == "the audience has members: observed 0"
    audience(wh, members(1))
    assert run(wh, not_empty_suite(AUDIENCE, T)).passed


def delivered(wh, sync, rows, status="success", dry_run=False, audience_name="aud_test"):
    with StateStore(wh.sources.state) as state:
        run_id = state.start_run(sync, audience_name, "hubspot", dry_run=dry_run)
        state.finish_run(run_id, status, {"audience_rows": rows})


def test_without_sync_history_any_size_passes(wh):
    audience(wh, members(5))
    outcome = run(wh, size_change_suite(AUDIENCE, T))
    assert outcome.passed
    assert outcome.failing_examples.empty


def test_an_audience_that_shrank_by_60_percent_since_its_last_delivery_blocks(wh):
    audience(wh, members(40))
    delivered(wh, "aud_test_to_file", 100)
    delivered(wh, "aud_test_to_hubspot", 100)
    delivered(wh, "aud_test_to_hubspot", 40, status="dry_run", dry_run=True)  # not a delivery
    delivered(wh, "aud_test_to_hubspot", 40, status="failed")  # nor is a failed run
    delivered(wh, "aud_other_to_hubspot", 40, audience_name="aud_other")
    outcome = run(wh, size_change_suite(AUDIENCE, T))
    assert not outcome.passed
    (example,) = outcome.failing_examples.to_dict("records")
    assert example["members"] == 40 and example["last_delivered_members"] == 100
    assert example["last_delivered_by"] == "aud_test_to_hubspot"
    assert example["change"] == pytest.approx(-0.6)


def test_growth_within_50_percent_or_from_a_small_audience_passes(wh):
    audience(wh, members(150))
    delivered(wh, "aud_test_to_hubspot", 100, status="unchanged")
    assert run(wh, size_change_suite(AUDIENCE, T)).passed
    delivered(wh, "aud_test_to_hubspot", 19, status="partial")  # too small to compare
    assert run(wh, size_change_suite(AUDIENCE, T)).passed


def test_an_audience_can_widen_or_turn_off_its_size_rule(wh):
    audience(wh, members(150))
    delivered(wh, "aud_test_to_hubspot", 50)
    assert not run(wh, size_change_suite(AUDIENCE, T)).passed
    wider = Audience("audiences", "aud_test", ("email",), max_size_change=3.0)
    assert run(wh, size_change_suite(wider, T)).passed
    off = Audience("audiences", "aud_test", ("email",), max_size_change=False)
    assert run(wh, size_change_suite(off, T)).passed
    env = Thresholds.from_env({"RECUR_CHECK_MAX_AUDIENCE_CHANGE": "2.5"})
    assert run(wh, size_change_suite(AUDIENCE, env)).passed


def test_a_missing_table_is_an_error_not_a_failure(wh):
    with pytest.raises(SuiteError, match="aud_test"):
        run(wh, sync_emails_suite(HUBSPOT, T))


# -- declarations and thresholds ---------------------------------------------------------------


def model(name: str, meta: dict) -> dict:
    return {"resource_type": "model", "name": name, "schema": "audiences", "config": {"meta": meta}}


def test_audiences_come_from_the_sync_declarations_with_their_overrides():
    hub = {"destination": "hubspot", "match_key": "email", "fields": {}}
    manifest = {
        "nodes": {
            "model.recur.aud_b": model(
                "aud_b",
                {
                    "recur": {
                        "syncs": [hub, {"destination": "file", "match_key": "user_id"}],
                        "quality": {"max_size_change": None, "min_previous_size": 5},
                    }
                },
            ),
            "model.recur.aud_a": model("aud_a", {"recur": {"syncs": [hub]}}),
            "model.recur.aud_unsynced": model("aud_unsynced", {}),
        }
    }
    a, b = audiences_from_manifest(manifest)
    assert (a.name, a.match_keys, a.max_size_change) == ("aud_a", ("email",), None)
    assert (set(b.match_keys), b.max_size_change, b.min_previous_size) == (
        {"email", "user_id"},
        False,
        5,
    )
    manifest["nodes"]["model.recur.aud_a"]["config"]["meta"]["recur"]["quality"] = {"max": 1}
    with pytest.raises(CheckError, match="unknown keys"):
        audiences_from_manifest(manifest)


def test_thresholds_come_from_the_environment():
    t = Thresholds.from_env(
        {
            "RECUR_CHECK_MAX_DUPLICATE_RATE": "0.1",
            "RECUR_CHECK_MIN_SEGMENTS": "4",
            "RECUR_CHECK_EARLIEST_EVENT": "2010-01-01",
            "RECUR_CHECK_FRESHNESS_HOURS": "",
        }
    )
    assert (t.max_duplicate_rate, t.min_segments, str(t.earliest_event)) == (0.1, 4, "2010-01-01")
    assert t.freshness_hours == 36
    with pytest.raises(ThresholdError, match="RECUR_CHECK_MIN_SEGMENTS='many' is not a int"):
        Thresholds.from_env({"RECUR_CHECK_MIN_SEGMENTS": "many"})


def test_importing_the_suites_does_not_import_great_expectations():
    code = "import sys, checks; assert 'great_expectations' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
