"""The numbers the report draws (reports/cohorts.py, reports/distributions.py), checked against
tiny hand-made analytics tables whose expected values are worked out by hand in the comments."""

from __future__ import annotations

import duckdb
import pytest

from reports import charts, cohorts, distribution_charts, distributions

PNG = b"\x89PNG\r\n\x1a\n"

# Daily cohorts: Monday 2026-01-05 (40 people) and Tuesday 01-06 (60) make the ISO week of
# 01-05; Monday 01-12 (20) starts the next week. 01-06 is not observed through day 2 yet.
# (cohort_date, period, cohort_users, eligible, retained_on, retained_on_or_after)
RETENTION = [
    ("2026-01-05", 0, 40, 40, 40, 40),
    ("2026-01-05", 1, 40, 40, 10, 20),
    ("2026-01-05", 2, 40, 30, 6, 9),
    ("2026-01-06", 0, 60, 60, 60, 60),
    ("2026-01-06", 1, 60, 60, 15, 24),
    ("2026-01-12", 0, 20, 20, 20, 20),
]
# (cohort_date, period, eligible, revenue, cumulative_revenue_per_user)
REVENUE = [
    ("2026-01-05", 0, 40, 400.0, 10.0),
    ("2026-01-05", 1, 40, 200.0, 15.0),
    ("2026-01-05", 2, 30, 90.0, 18.0),  # the 30 people observed through day 2 spent 540 by then
    ("2026-01-06", 0, 60, 300.0, 5.0),
    ("2026-01-06", 1, 60, 150.0, 7.5),
    ("2026-01-12", 0, 20, 160.0, 8.0),
]


def _con(tmp_path, unit: str = "day", name: str = "warehouse") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / f"{name}.duckdb"))
    con.execute("create schema analytics")
    con.execute(
        """create table analytics.retention_cohorts (cohort_date date, period_unit varchar,
           period integer, cohort_users bigint, eligible_users bigint, retained_on bigint,
           retained_on_or_after bigint, retention_on double, retention_on_or_after double)"""
    )
    for day, period, size, eligible, on, on_after in RETENTION:
        con.execute(
            "insert into analytics.retention_cohorts values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [day, unit, period, size, eligible, on, on_after, on / eligible, on_after / eligible],
        )
    con.execute(
        """create table analytics.revenue_cohorts (cohort_date date, period_unit varchar,
           period integer, eligible_users bigint, revenue double,
           cumulative_revenue_per_user double)"""
    )
    for day, period, eligible, revenue, cumulative in REVENUE:
        con.execute(
            "insert into analytics.revenue_cohorts values (?, ?, ?, ?, ?, ?)",
            [day, unit, period, eligible, revenue, cumulative],
        )
    return con


def _cells(frame, *columns):
    return [
        (str(row["cohort"])[:10], row["period"], *(row[c] for c in columns))
        for _, row in frame.iterrows()
    ]


def test_weekly_cells_sum_the_days_and_stop_where_a_day_of_the_week_is_not_observed(tmp_path):
    cells = cohorts.retention_cells(_con(tmp_path), "week", min_people=50)
    assert set(cells["grain"]) == {"week"}
    assert _cells(
        cells, "cohort_users", "eligible_users", "retained_on", "retained_on_or_after"
    ) == [
        ("2026-01-05", 0, 100, 100, 100, 100),
        ("2026-01-05", 1, 100, 100, 25, 44),  # 10 + 15 of 40 + 60; 20 + 24
        # no day 2: Tuesday's cohort has not reached it, Monday's alone would not be the week
        ("2026-01-12", 0, 20, 20, 20, 20),
    ]
    assert cells["retention_on"].tolist() == pytest.approx([1.0, 0.25, 1.0])
    assert cells["retention_on_or_after"].tolist() == pytest.approx([1.0, 0.44, 1.0])
    assert cells["enough_people"].tolist() == [True, True, False]  # 20 people < 50


def test_monthly_cells_keep_only_the_periods_every_daily_cohort_reached(tmp_path):
    cells = cohorts.retention_cells(_con(tmp_path), "month")
    # day 1: 01-12 is not observed through it; day 2: only 01-05 is
    assert _cells(cells, "cohort_users", "eligible_users") == [("2026-01-01", 0, 120, 120)]


def test_day_grain_shows_the_daily_cells_as_built(tmp_path):
    cells = cohorts.retention_cells(_con(tmp_path), "day")
    assert _cells(cells, "eligible_users", "retained_on") == [r[:2] + r[3:5] for r in RETENTION]


def test_the_report_grain_is_never_finer_than_the_retention_unit(tmp_path):
    assert cohorts.report_grain("day", "week") == "week"
    assert cohorts.report_grain("week", "day") == "week"
    assert cohorts.report_grain("month", "week") == "month"
    with pytest.raises(ValueError, match="fortnight"):
        cohorts.report_grain("day", "fortnight")
    cells = cohorts.retention_cells(_con(tmp_path, unit="week"), "day")
    assert set(cells["grain"]) == {"week"} and len(cells) == len(RETENTION)


def test_pooled_retention_is_sum_retained_over_sum_eligible_and_cut_below_the_minimum(tmp_path):
    pooled = cohorts.pooled_retention(_con(tmp_path), min_people=50)
    assert pooled["cohorts"].tolist() == [3, 2, 1]
    assert pooled["eligible_users"].tolist() == [120, 100, 30]
    assert pooled["retention_on"].tolist() == pytest.approx([1.0, 25 / 100, 6 / 30])
    assert pooled["retention_on_or_after"].tolist() == pytest.approx([1.0, 44 / 100, 9 / 30])
    assert pooled["enough_people"].tolist() == [True, True, False]  # day 2 rests on 30 people
    lower = cohorts.pooled_retention(_con(tmp_path, name="again"), min_people=30)
    assert lower["enough_people"].tolist() == [True, True, True]


def test_ltv_curves_weigh_cohorts_by_their_people_and_cut_below_the_minimum(tmp_path):
    con = _con(tmp_path)
    weekly = cohorts.revenue_curves(con, "week", min_people=50)
    assert _cells(weekly, "eligible_users") == [
        ("2026-01-05", 0, 100),
        ("2026-01-05", 1, 100),
        ("2026-01-12", 0, 20),
    ]
    # (40 * 10 + 60 * 5) / 100 and (40 * 15 + 60 * 7.5) / 100
    assert weekly["cumulative_revenue_per_user"].tolist() == pytest.approx([7.0, 10.5, 8.0])
    assert weekly["enough_people"].tolist() == [True, True, False]


def test_the_pooled_ltv_curve_sums_each_periods_pooled_revenue_per_person(tmp_path):
    pooled = cohorts.pooled_revenue_curve(_con(tmp_path), min_people=50)
    assert pooled["cohorts"].tolist() == [3, 2, 1]
    assert pooled["eligible_users"].tolist() == [120, 100, 30]
    day_0 = (400 + 300 + 160) / 120
    day_1 = (200 + 150) / 100
    day_2 = 90 / 30
    assert pooled["revenue_per_user"].tolist() == pytest.approx([day_0, day_1, day_2])
    assert pooled["cumulative_revenue_per_user"].tolist() == pytest.approx(
        [day_0, day_0 + day_1, day_0 + day_1 + day_2]
    )
    assert pooled["enough_people"].tolist() == [True, True, False]


def _ltv_con(tmp_path, predictions, status="fitted", reason=None, name="ltv"):
    con = duckdb.connect(str(tmp_path / f"{name}.duckdb"))
    con.execute("create schema analytics")
    con.execute(
        """create table analytics.customer_ltv (user_id varchar, predicted_ltv_12m double,
           ltv_tier varchar)"""
    )
    con.execute(
        """create table analytics.churn_risk (user_id varchar, churn_score double,
           churn_band varchar)"""
    )
    con.execute(
        """create table analytics.ltv_model_params (model_status varchar,
           model_status_reason varchar)"""
    )
    con.execute("insert into analytics.ltv_model_params values (?, ?)", [status, reason])
    for i, (value, tier, score, band) in enumerate(predictions):
        con.execute("insert into analytics.customer_ltv values (?, ?, ?)", [f"u{i}", value, tier])
        con.execute("insert into analytics.churn_risk values (?, ?, ?)", [f"u{i}", score, band])
    return con


# (predicted_ltv_12m, ltv_tier, churn_score, churn_band)
CUSTOMERS = [
    (140.0, "high", 0.1, "low"),
    (25.0, "high", 0.49, "low"),
    (10.0, "medium", 0.5, "medium"),
    (9.9, "medium", 0.79, "medium"),
    (4.0, "medium", 0.8, "high"),
    (2.5, "low", 0.95, "high"),
    (1.6, "low", 1.0, "high"),
    (1.2, "low", 0.97, "high"),
    (0.0, "low", 0.99, "high"),
]


def test_predicted_ltv_bins_are_even_on_a_log_scale_with_the_tier_cuts_marked(tmp_path):
    histogram = distributions.predicted_ltv(_ltv_con(tmp_path, CUSTOMERS))
    counts = {
        (row.bin_start, row.bin_end): row.customers
        for row in histogram.bins.itertuples()
        if row.customers
    }
    assert histogram.bins["bin_start"].iloc[0] == 1.0
    assert histogram.bins["bin_end"].iloc[-1] == pytest.approx(150.0)
    assert counts == pytest.approx(
        {
            (1.0, 1.5): 1,  # 1.2
            (1.5, 2.0): 1,  # 1.6
            (2.0, 3.0): 1,
            (3.0, 5.0): 1,
            (7.0, 10.0): 1,  # 9.9
            (10.0, 15.0): 1,  # 10.0: bins hold their start
            (20.0, 30.0): 1,
            (100.0, 150.0): 1,
        }
    )
    assert histogram.left_out == {"predicted 0 or less": 1}
    assert histogram.marks == {"tier high from": 25.0, "tier medium from": 4.0}
    assert histogram.groups == {"high": 2, "medium": 3, "low": 4}


def test_churn_scores_bin_by_twentieths_with_the_band_thresholds_on_bin_edges(tmp_path):
    histogram = distributions.churn_scores(_ltv_con(tmp_path, CUSTOMERS))
    bins = histogram.bins
    assert len(bins) == 20 and bins["customers"].sum() == 9
    count = dict(zip(bins["bin_start"].round(2), bins["customers"], strict=True))
    assert count[0.1] == 1 and count[0.45] == 1 and count[0.5] == 1 and count[0.75] == 1
    assert count[0.8] == 1  # 0.8 is high, so it opens the first bin at or above the threshold
    assert count[0.95] == 4  # 0.95, 0.97, 0.99 and 1.0 (the last bin holds its end)
    assert histogram.marks == {"medium from": 0.5, "high from": 0.8}
    assert histogram.groups == {"high": 5, "medium": 2, "low": 2}


def test_without_predictions_the_histograms_carry_the_reason_and_the_charts_say_it(tmp_path):
    reason = "no customer has a repeat purchase yet (0 of 2 customers)"
    con = _ltv_con(tmp_path, [(None, None, None, None)] * 2, status="not_estimable", reason=reason)
    for histogram in (distributions.predicted_ltv(con), distributions.churn_scores(con)):
        assert histogram.empty_reason == reason and histogram.bins.empty
    assert distribution_charts.predicted_ltv(con)[:8] == PNG
    assert distribution_charts.churn_scores(con)[:8] == PNG
    empty = _ltv_con(tmp_path, [], name="empty")
    assert distributions.predicted_ltv(empty).empty_reason.startswith("no customers yet")


def test_the_cohort_and_distribution_charts_draw(tmp_path):
    con, ltv = _con(tmp_path), _ltv_con(tmp_path, CUSTOMERS)
    for png in (
        charts.retention_curve(con),
        charts.retention_heatmap(con, "week"),
        charts.ltv_curves(con, "week"),
        distribution_charts.predicted_ltv(ltv),
        distribution_charts.churn_scores(ltv),
    ):
        assert png[:8] == PNG


def test_the_report_grain_setting_is_weekly_by_default_and_names_itself_when_wrong(monkeypatch):
    from orchestration import environment

    monkeypatch.delenv("RECUR_REPORT_GRAIN", raising=False)
    assert environment.report_grain() == "week"
    monkeypatch.setenv("RECUR_REPORT_GRAIN", "month")
    assert environment.report_grain() == "month"
    monkeypatch.setenv("RECUR_REPORT_GRAIN", "quarter")
    with pytest.raises(ValueError, match="RECUR_REPORT_GRAIN is 'quarter'"):
        environment.report_grain()


def test_the_uplift_picture_draws_the_pooled_rows_and_says_when_there_are_none(tmp_path):
    from reports import uplift_chart

    con = duckdb.connect()
    # Before the model exists, and while it has no closed window: a picture that says so.
    assert uplift_chart.uplift_rows(con) == []
    assert uplift_chart.uplift(con).startswith(PNG)
    con.execute("create schema analytics")
    con.execute(
        """create table analytics.audience_uplift as select * from (values
           ('a_to_hubspot', null, 'purchase_conversion', 0.05, 0.01, 0.09, 400, 100, 0.02),
           ('a_to_hubspot', '2026-01-05', 'purchase_conversion', 0.04, -0.02, 0.1, 200, 50, 0.2),
           ('a_to_hubspot', null, 'return', 0.0, -0.03, 0.03, 400, 100, 1.0),
           ('a_to_hubspot', null, 'revenue_per_person', 2.5, -1.0, 6.0, 400, 100, 0.16),
           ('b_to_braze', null, 'purchase_conversion', null, null, null, 300, 0, null),
           ('c_to_file', null, 'revenue_per_person', 4.0, null, null, 1, 1, null))
           t(sync, entry_period, metric, difference, difference_ci_low, difference_ci_high,
             treatment_people, holdout_people, p_value)"""
    )
    rows = uplift_chart.uplift_rows(con)
    # Pooled rows only (entry_period null), and only syncs with both groups.
    assert [(r[0], r[1], float(r[2])) for r in rows] == [
        ("a_to_hubspot", "purchase_conversion", 0.05),
        ("a_to_hubspot", "return", 0.0),
        ("a_to_hubspot", "revenue_per_person", 2.5),
        ("c_to_file", "revenue_per_person", 4.0),
    ]
    # A row without an interval (one person per group) is listed, not drawn, and does not fail.
    assert uplift_chart.uplift(con).startswith(PNG)
