"""The analytics marts equal an independent pandas computation of the same definitions.

One synthetic dataset (600 people over 40 days, fixed seed) is loaded and built once; each test
reads core.fct_events / core.fct_orders into pandas, applies the definition from
docs/metrics.md (analytics.md §3-§6) directly, and asserts exact equality with the mart, cell by
cell. The pandas code shares nothing with the SQL but the rules: rolling 24-hour periods from
each person's first event, censoring at start + (k + 1) days <= observation end (the last event),
uniques funnels with a 7-day window from the first step-1 event, mid-rank quintiles where equal
values share a score (F: 1 = one purchase, repeat buyers' quartiles 2-5) and CleverTap's R x F
grid written out here (not read from the seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sources.warehouse import connect

DAY = pd.Timedelta(days=1)
RETENTION_PERIODS = 60  # the var retention_periods (day periods)
FUNNEL_STEPS = ["View Item", "Add To Cart", "Checkout Started", "Purchase"]  # the 'purchase' funnel
FUNNEL_WINDOW = pd.Timedelta(days=7)
SEGMENTS = {  # analytics.md §6.2, with the project's Lost split (rfm_split_lost)
    "Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising",
    "Need Attention", "About To Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost",
}  # fmt: skip


@pytest.fixture(scope="module")
def built(analytics_build):
    """The shared 600-person build (tests/integration/conftest.py), read-only."""
    con = connect(analytics_build[1], read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def events(built) -> pd.DataFrame:
    return built.execute("select user_id, event_name, event_at from core.fct_events").df()


@pytest.fixture(scope="module")
def orders(built) -> pd.DataFrame:
    # revenue in whole millionths (the decimal's scale), so sums and ties are exact
    return built.execute(
        "select user_id, ordered_at, is_refund, "
        "cast(round(revenue * 1000000) as bigint) as revenue_micros from core.fct_orders"
    ).df()


def observation_end(events: pd.DataFrame) -> pd.Timestamp:
    return events["event_at"].max()


def eligible_cells(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (person, period k) with period k fully observed: start + (k + 1) days <= end;
    and one row per person (start, day cohort, last observed period)."""
    end = observation_end(events)
    starts = events.groupby("user_id")["event_at"].min().rename("started_at").reset_index()
    starts = starts[starts["started_at"] < end]
    last_k = ((end - starts["started_at"]) // DAY - 1).clip(upper=RETENTION_PERIODS)
    starts = starts.assign(cohort_date=starts["started_at"].dt.normalize(), last_k=last_k)
    cells = starts.loc[starts.index.repeat(starts["last_k"] + 1)].reset_index(drop=True)
    cells["period"] = cells.groupby("user_id").cumcount()
    return cells, starts


def periods_of(frame: pd.DataFrame, at: str, starts: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``frame`` (events or orders) from each person's start on, with their rolling day
    period k = floor((at - start) / 24 h)."""
    joined = frame.merge(starts[["user_id", "started_at"]], on="user_id")
    joined = joined[joined[at] >= joined["started_at"]]
    return joined.assign(period=(joined[at] - joined["started_at"]) // DAY)


def test_retention_on_and_on_or_after_equal_pandas_for_every_cohort_and_period(built, events):
    cells, starts = eligible_cells(events)
    returned = periods_of(events, "event_at", starts)[["user_id", "period"]].drop_duplicates()
    last_period = returned.groupby("user_id")["period"].max().rename("last_period")
    cells = cells.merge(returned.assign(on=1), on=["user_id", "period"], how="left")
    cells = cells.join(last_period, on="user_id")
    cells["on"] = cells["on"].fillna(0).astype(int)
    cells["on_or_after"] = (cells["last_period"] >= cells["period"]).astype(int)
    cohort_users = starts.groupby("cohort_date").size().rename("cohort_users")
    expected = (
        cells.groupby(["cohort_date", "period"])
        .agg(eligible=("user_id", "size"), on=("on", "sum"), on_or_after=("on_or_after", "sum"))
        .join(cohort_users)
        .reset_index()
    )
    expected = {
        (r.cohort_date.date(), r.period): (r.cohort_users, r.eligible, r.on, r.on_or_after)
        for r in expected.itertuples()
    }

    got = {
        (cohort, period): rest
        for cohort, period, *rest in built.execute(
            "select cohort_date, period, cohort_users, eligible_users, retained_on, "
            "cast(retained_on_or_after as bigint) from analytics.retention_cohorts"
        ).fetchall()
    }
    assert {k: tuple(v) for k, v in got.items()} == expected
    # the dataset is big enough to exercise censoring and late returns
    assert len(expected) > 500
    assert any(e < c for c, e, _, _ in expected.values())  # incomplete cells exist
    assert any(a > o for _, _, o, a in expected.values())  # on-or-after exceeds on somewhere


def test_retention_rates_are_the_counts_over_eligible_people(built):
    bad = built.execute(
        "select count(*) from analytics.retention_cohorts "
        "where abs(retention_on * eligible_users - retained_on) > 1e-9 "
        "or abs(retention_on_or_after * eligible_users - retained_on_or_after) > 1e-9"
    ).fetchone()[0]
    assert bad == 0


def test_revenue_cohorts_equal_pandas_over_the_same_eligible_people(built, events, orders):
    cells, starts = eligible_cells(events)
    paid = periods_of(orders, "ordered_at", starts)
    paid = paid[paid["ordered_at"] <= observation_end(events)]
    per_period = paid.groupby(["user_id", "period"])["revenue_micros"].sum().rename("revenue")
    cells = cells.join(per_period, on=["user_id", "period"]).fillna({"revenue": 0})
    cells["cumulative"] = cells.sort_values("period").groupby("user_id")["revenue"].cumsum()
    expected = cells.groupby(["cohort_date", "period"]).agg(
        eligible=("user_id", "size"),
        revenue=("revenue", "sum"),
        cumulative=("cumulative", "sum"),
    )
    expected = {
        (c.date(), p): (int(r.eligible), int(r.revenue), r.cumulative / r.eligible / 1e6)
        for (c, p), r in expected.iterrows()
    }

    rows = built.execute(
        "select cohort_date, period, eligible_users, cast(round(revenue * 1000000) as bigint), "
        "cumulative_revenue_per_user from analytics.revenue_cohorts"
    ).fetchall()
    got = {(c, p): (e, r, ltv) for c, p, e, r, ltv in rows}
    assert got.keys() == expected.keys()
    for key, (eligible, revenue, ltv) in got.items():
        want = expected[key]
        assert (eligible, revenue) == want[:2], key
        assert ltv == pytest.approx(want[2], abs=1e-6), key
    assert sum(r for _, r, _ in got.values()) > 0

    # NRR: only the people who paid in period 0 (net period-0 revenue > 0), their period-k revenue
    # over their period-0 revenue; later first purchases count in the whole-cohort index only
    base = cells[cells["period"] == 0].set_index("user_id")["revenue"].rename("base")
    cells = cells.join(base, on="user_id")
    payers = cells[cells["base"] > 0]
    nrr = payers.groupby(["cohort_date", "period"])[["revenue", "base"]].sum()
    index = cells.groupby(["cohort_date", "period"])[["revenue", "base"]].sum()
    rows = built.execute(
        "select cohort_date, period, net_revenue_retention, revenue_per_period_0_revenue "
        "from analytics.revenue_cohorts"
    ).fetchall()
    late_payers = 0
    for cohort, period, got_nrr, got_index in rows:
        key = (pd.Timestamp(cohort), period)
        want_nrr = nrr["revenue"][key] / nrr["base"][key] if key in nrr.index else None
        want_index = index["revenue"][key] / index["base"][key] if index["base"][key] else None
        for got, want in ((got_nrr, want_nrr), (got_index, want_index)):
            assert (got is None) == (want is None), key
            assert want is None or got == pytest.approx(want, rel=1e-9), key
        late_payers += want_nrr is not None and abs(want_index - want_nrr) > 1e-9
    assert late_payers > 0  # the data has people whose first payment comes after period 0


def test_funnel_users_per_step_equal_pandas_for_the_purchase_funnel(built, events):
    first = events[events["event_name"] == FUNNEL_STEPS[0]].groupby("user_id")["event_at"].min()
    started = first.rename("started_at")
    reached, expected = first.rename("previous_at"), [len(first)]
    seconds_from_start = []
    for step in FUNNEL_STEPS[1:]:
        candidates = (
            events[events["event_name"] == step]
            .join(reached, on="user_id", how="inner")
            .join(started, on="user_id")
        )
        candidates = candidates[
            (candidates["event_at"] >= candidates["previous_at"])
            & (candidates["event_at"] < candidates["started_at"] + FUNNEL_WINDOW)
        ]
        reached = candidates.groupby("user_id")["event_at"].min().rename("previous_at")
        expected.append(len(reached))
        seconds_from_start.append(
            ((reached - started.reindex(reached.index)).dt.total_seconds()).median()
        )

    got = built.execute(
        "select users, median_seconds_from_start from analytics.funnel_conversion "
        "where funnel_name = 'purchase' order by step_number"
    ).fetchall()
    assert [users for users, _ in got] == expected
    assert expected[0] > expected[-1] > 0  # people enter and some, not all, convert
    # datediff counts second boundaries; the exact medians differ by under a second
    for (_, median), want in zip(got[1:], seconds_from_start, strict=True):
        assert median == pytest.approx(want, abs=1.0)


def mid_rank_score(values: pd.Series, tiles: int) -> pd.Series:
    """1 + floor(tiles * u), u = (average rank - 1/2) / n: the tile holding the middle of each
    value's tie block (docs/metrics.md, RFM), with pandas' own average rank."""
    u = (values.rank(method="average") - 0.5) / len(values)
    return (1 + np.floor(tiles * u + 1e-12)).astype(int)


def segment(r: int, f: int) -> str:
    """CleverTap's R x F grid (analytics.md §6.2) with R = 1, F = 1 split off as Lost."""
    if r == 5 and f >= 4:
        return "Champions"
    if r in (3, 4) and f >= 4:
        return "Loyal Customers"
    if r >= 4 and f in (2, 3):
        return "Potential Loyalists"
    if r == 5 and f == 1:
        return "New Customers"
    if r == 4 and f == 1:
        return "Promising"
    if r == 3 and f == 3:
        return "Need Attention"
    if r == 3 and f <= 2:
        return "About To Sleep"
    if r <= 2 and f in (3, 4):
        return "At Risk"
    if r <= 2 and f == 5:
        return "Can't Lose Them"
    return "Lost" if (r, f) == (1, 1) else "Hibernating"


def test_rfm_scores_and_segment_counts_equal_pandas_ranking(built, events, orders):
    end = observation_end(events)
    observed = orders[orders["ordered_at"] <= end]
    purchases = observed[~observed["is_refund"]]
    customers = purchases.groupby("user_id").agg(
        last_order_at=("ordered_at", "max"), frequency=("ordered_at", "size")
    )
    customers["monetary"] = observed.groupby("user_id")["revenue_micros"].sum()
    customers["recency_days"] = (
        end.normalize() - customers["last_order_at"].dt.normalize()
    ).dt.days
    customers = customers.reset_index()
    n = len(customers)
    customers["r"] = mid_rank_score(-customers["recency_days"], 5)  # most days first: R = 1
    customers["m"] = mid_rank_score(customers["monetary"], 5)
    repeat = customers["frequency"] > 1
    customers["f"] = 1  # one purchase
    customers.loc[repeat, "f"] = 1 + mid_rank_score(customers.loc[repeat, "frequency"], 4)
    customers[["r", "f", "m"]] = customers[["r", "f", "m"]].astype(int)
    customers["segment"] = [
        segment(r, f) for r, f in zip(customers["r"], customers["f"], strict=True)
    ]

    got = built.execute(
        "select user_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment "
        "from analytics.user_rfm"
    ).df()
    merged = customers.merge(got, on="user_id", how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
    assert (merged["recency_days_x"] == merged["recency_days_y"]).all()
    assert (merged["frequency_x"] == merged["frequency_y"]).all()
    scores = merged[["r_score", "f_score", "m_score"]].to_numpy()
    assert (merged[["r", "f", "m"]].to_numpy() == scores).all()
    assert (
        got["rfm_segment"].value_counts().to_dict() == customers["segment"].value_counts().to_dict()
    )
    assert set(got["rfm_segment"]) <= SEGMENTS
    # ties are common (frequency 1 is most customers), so tie sharing is what is being checked
    assert customers["frequency"].value_counts().iloc[0] > n / 5
    for score, column in (
        ("r_score", "recency_days"),
        ("f_score", "frequency"),
        ("m_score", "monetary"),
    ):
        assert (got.groupby(column)[score].nunique() == 1).all()  # equal values, equal scores


def test_lifecycle_intervals_equal_pandas_weekly_stages(built, events):
    week_of = events["event_at"].dt.to_period("W-SUN").dt.start_time  # ISO weeks, from Monday
    weeks = events.assign(week=week_of)
    active = weeks.groupby("week")["user_id"].agg(set)
    first_week = weeks.groupby("user_id")["week"].min()
    new_by_week = first_week.value_counts()
    expected = {}
    for week in pd.date_range(active.index.min(), active.index.max(), freq="7D"):
        people = active.get(week, set())
        before = active.get(week - pd.Timedelta(days=7), set())
        new = int(new_by_week.get(week, 0))
        current = len(people & before)
        expected[week.date()] = (new, current, len(people) - new - current, len(before - people))

    got = {
        week: (new, current, resurrected, dormant)
        for week, new, current, resurrected, dormant in built.execute(
            "select interval_start, cast(new_users as bigint), cast(current_users as bigint), "
            "cast(resurrected_users as bigint), cast(dormant_users as bigint) "
            "from analytics.lifecycle_intervals"
        ).fetchall()
    }
    assert got == expected
    assert sum(resurrected for _, _, resurrected, _ in expected.values()) > 0
