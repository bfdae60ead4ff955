"""The numbers behind the report's cohort charts, as DataFrames (the charts only draw them).

- :func:`retention_cells` and :func:`revenue_curves`: the cohort cells rolled up to the report's
  grain. With ``retention_unit: day`` a daily cohort holds about a day's new people (30 in
  ``make demo``), too few for a readable cell, so the report shows ISO-week cohorts by default.
  A rolled-up cell sums eligible and retained people (or revenue) over the finer cohorts it
  holds, and exists for period k only when **every** finer cohort of it has reached k: a week
  whose Sunday cohort is not observed through k has no k cell, so a cell never describes only
  the early days of its week. Periods stay in ``retention_unit`` (days since each person's start).
- :func:`pooled_retention`: the "Overall row" of docs/metrics.md, Σ retained / Σ eligible per
  period over every cohort that reached it; :func:`pooled_revenue_curve`: the same pooling of
  each period's revenue per person, summed over the periods.

Every frame has ``eligible_users`` and ``enough_people`` (eligible_users >= ``min_people``):
the charts draw no value from fewer than :data:`MIN_PEOPLE` people. Eligible people never grow
with k, so the cut is a prefix of each curve.
"""

from __future__ import annotations

import duckdb
import pandas as pd

MIN_PEOPLE = 50  # fewer people than this and a share moves by 2 points or more per person
GRAINS = ("day", "week", "month")  # finest first


def report_grain(period_unit: str, grain: str) -> str:
    """The grain the report can show: ``grain``, or ``period_unit`` when that is coarser (weekly
    cohorts cannot be split into days)."""
    if grain not in GRAINS:
        raise ValueError(f"report grain {grain!r} is not one of {', '.join(GRAINS)}")
    return max(grain, period_unit, key=GRAINS.index)


def _cohort_sql(con: duckdb.DuckDBPyConnection, table: str, grain: str) -> tuple[str, str]:
    """The SQL expression of a cell's report cohort (its first day) and the grain shown."""
    unit = con.execute(f"select any_value(period_unit) from analytics.{table}").fetchone()[0]
    shown = report_grain(unit or grain, grain)
    if shown == (unit or grain):
        return "cohort_date", shown
    return f"cast(date_trunc('{shown}', cohort_date) as date)", shown


def _rolled_up(
    con: duckdb.DuckDBPyConnection, table: str, grain: str, measures: dict[str, str]
) -> tuple[pd.DataFrame, str]:
    """The cells of ``table`` summed to ``grain`` cohorts: ``measures`` maps an output column to
    the per-cell SQL expression summed."""
    cohort, grain = _cohort_sql(con, table, grain)
    sums = "".join(f", sum({sql}) as {name}" for name, sql in measures.items())
    frame = con.execute(
        f"""with cells as (
                select {cohort} as cohort, * from analytics.{table}
            ),
            finer_cohorts as (
                select cohort, count(distinct cohort_date) as finer_cohorts
                from cells group by cohort
            ),
            summed as (
                select cohort, period, count(*) as finer_cohorts,
                       sum(eligible_users) as eligible_users{sums}
                from cells group by cohort, period
            )
            select summed.* exclude (finer_cohorts)
            from summed inner join finer_cohorts using (cohort, finer_cohorts)
            order by cohort, period"""
    ).df()
    return frame, grain


def retention_cells(
    con: duckdb.DuckDBPyConnection, grain: str = "week", min_people: int = MIN_PEOPLE
) -> pd.DataFrame:
    """One row per (cohort, period) at ``grain``: cohort (its first day), grain, period,
    cohort_users, eligible_users, retained_on, retained_on_or_after, retention_on,
    retention_on_or_after, enough_people."""
    frame, grain = _rolled_up(
        con,
        "retention_cohorts",
        grain,
        {"retained_on": "retained_on", "retained_on_or_after": "retained_on_or_after"},
    )
    cohort, _ = _cohort_sql(con, "retention_cohorts", grain)
    sizes = con.execute(
        f"""select {cohort} as cohort, sum(cohort_users) as cohort_users
            from (select distinct cohort_date, cohort_users from analytics.retention_cohorts)
            group by 1"""
    ).df()
    frame = frame.merge(sizes, on="cohort", how="left")
    frame["grain"] = grain
    frame["retention_on"] = frame["retained_on"] / frame["eligible_users"]
    frame["retention_on_or_after"] = frame["retained_on_or_after"] / frame["eligible_users"]
    frame["enough_people"] = frame["eligible_users"] >= min_people
    columns = ["cohort", "grain", "period", "cohort_users", "eligible_users", "retained_on"]
    columns += ["retained_on_or_after", "retention_on", "retention_on_or_after", "enough_people"]
    return frame[columns].astype({"cohort_users": "int64", "eligible_users": "int64"})


def pooled_retention(con: duckdb.DuckDBPyConnection, min_people: int = MIN_PEOPLE) -> pd.DataFrame:
    """Per period: the cohorts that reached it, their eligible and retained people, the pooled
    retention on and on or after (Σ retained / Σ eligible), and enough_people."""
    frame = con.execute(
        """select period, count(*) as cohorts, sum(eligible_users) as eligible_users,
                  sum(retained_on) as retained_on,
                  sum(retained_on_or_after) as retained_on_or_after
           from analytics.retention_cohorts group by period order by period"""
    ).df()
    frame["retention_on"] = frame["retained_on"] / frame["eligible_users"]
    frame["retention_on_or_after"] = frame["retained_on_or_after"] / frame["eligible_users"]
    frame["enough_people"] = frame["eligible_users"] >= min_people
    counts = ("cohorts", "eligible_users", "retained_on", "retained_on_or_after")
    return frame.astype(dict.fromkeys(counts, "int64"))


def revenue_curves(
    con: duckdb.DuckDBPyConnection, grain: str = "week", min_people: int = MIN_PEOPLE
) -> pd.DataFrame:
    """Historical LTV curve per cohort at ``grain``: cohort, grain, period, eligible_users,
    cumulative_revenue_per_user (Σ people's revenue up to the period / Σ eligible), enough_people.
    """
    frame, grain = _rolled_up(
        con,
        "revenue_cohorts",
        grain,
        {"cumulative_revenue": "cumulative_revenue_per_user * eligible_users"},
    )
    frame["grain"] = grain
    frame["cumulative_revenue_per_user"] = frame["cumulative_revenue"] / frame["eligible_users"]
    frame["enough_people"] = frame["eligible_users"] >= min_people
    columns = ["cohort", "grain", "period", "eligible_users", "cumulative_revenue_per_user"]
    return frame[columns + ["enough_people"]].astype({"eligible_users": "int64"})


def pooled_revenue_curve(
    con: duckdb.DuckDBPyConnection, min_people: int = MIN_PEOPLE
) -> pd.DataFrame:
    """The all-cohorts historical LTV curve: per period, the cohorts and eligible people that
    reached it, their revenue per person in the period (Σ revenue / Σ eligible), the cumulative
    sum of that up to the period, and enough_people.

    Each period's revenue per person is pooled over every cohort observed through it, then
    summed: pooling the cohorts' cumulative levels instead mixes a different set of cohorts at
    each point, and in ``make demo`` it jumped by 6 a person (a fifth) each time the oldest daily
    cohort left the pool, on 100 to 250 people."""
    frame = con.execute(
        """select period, count(*) as cohorts, sum(eligible_users) as eligible_users,
                  sum(revenue) / sum(eligible_users) as revenue_per_user,
                  sum(sum(revenue) / sum(eligible_users)) over (order by period)
                      as cumulative_revenue_per_user
           from analytics.revenue_cohorts group by period order by period"""
    ).df()
    frame["enough_people"] = frame["eligible_users"] >= min_people
    return frame.astype({"cohorts": "int64", "eligible_users": "int64"})
