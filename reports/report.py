"""The retention report: one static HTML page of what the warehouse knows and what was synced.

Sections: headline numbers, retention (the pooled curve and the cohort heatmap at the report's
grain, weekly by default), lifetime value (historical LTV curves, the predicted-LTV and churn-score
distributions), RFM segment sizes, funnels, audience sizes, the latest outcome of every sync (from
the sync state file), the campaign uplift of syncs with a holdout (treatment against holdout, with
intervals), and configured event names that matched no event (with the closest names seen).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from checks.event_names import configured_name_warnings
from reports import charts, distribution_charts, ltv_status, uplift_chart
from reports.cohorts import MIN_PEOPLE
from reports.pages import figure, table, write_page

SYNC_COLUMNS = (
    "sync", "status", "finished (UTC)", "in audience", "added", "changed", "removed",
    "invalid", "rejected", "requests", "429s", "error",
)  # fmt: skip


MIN_RULE = (
    f"No share or curve point is drawn from fewer than {MIN_PEOPLE} people: curves stop there and "
    "heatmap cells stay blank (docs/metrics.md, Retention)."
)


@dataclass
class Report:
    """The report's pictures (caption -> PNG) and its page."""

    charts: dict[str, bytes] = field(default_factory=dict)
    sync_rows: list[tuple] = field(default_factory=list)
    path: Path | None = None


def figures(report: Report, *captions: str) -> str:
    """The named charts of ``report``, one after another."""
    return "".join(figure(caption, report.charts[caption]) for caption in captions)


def latest_syncs(state: Path) -> list[tuple]:
    """The latest real (not dry) run of every sync, or [] when nothing was synced yet."""
    if not Path(state).exists():
        return []
    con = duckdb.connect(str(state), read_only=True)
    try:
        return con.execute(
            """select sync, status, strftime(finished_at, '%Y-%m-%d %H:%M'), audience_rows,
                      added, changed, removed, invalid, rejected, requests, throttled,
                      coalesce(error, '')
               from runs where not dry_run
               qualify row_number() over (partition by sync order by started_at desc) = 1
               order by sync"""
        ).fetchall()
    except duckdb.CatalogException:
        return []
    finally:
        con.close()


def event_names_section(con: duckdb.DuckDBPyConnection) -> str:
    """Configured event names that matched no event, with the closest names seen."""
    unmatched = configured_name_warnings(con)
    if not unmatched:
        return "<p>Every configured event name matched events.</p>"
    return (
        "<p>Warning: these configured event names matched no event, so what they feed (funnels, "
        "audiences, retention, engagement) counts nobody. Set them to your app's names "
        "(dbt_project.yml, Event names; docs/configuration.md).</p>"
        + table(
            ("event name", "set in", "closest names seen"),
            [(w.event_name, ", ".join(w.settings), ", ".join(w.closest)) for w in unmatched],
        )
    )


def write_report(
    con: duckdb.DuckDBPyConnection, state: Path, path: Path, grain: str = "week"
) -> Report:
    """Build the report from the warehouse connection ``con`` and the sync state file, with
    cohorts at ``grain`` (day, week or month; never finer than ``retention_unit``)."""
    people, customers, orders, revenue = con.execute(
        """select (select count(*) from core.dim_users),
                  count(distinct user_id) filter (where not is_refund),
                  count(*) filter (where not is_refund), coalesce(sum(revenue), 0)
           from core.fct_orders"""
    ).fetchone()
    report = Report()
    report.charts = {
        "Retention, all cohorts": charts.retention_curve(con),
        "Retention on, by cohort": charts.retention_heatmap(con, grain),
        "Historical LTV curves": charts.ltv_curves(con, grain),
        "Predicted LTV": distribution_charts.predicted_ltv(con),
        "Churn score": distribution_charts.churn_scores(con),
        "RFM segments": charts.segment_sizes(con),
        "Funnels": charts.funnels(con),
        "Campaign uplift": uplift_chart.uplift(con),
    }
    audiences = con.execute(
        """select table_name from information_schema.tables
           where table_schema = 'audiences' order by 1"""
    ).fetchall()
    sizes = [
        (name, con.execute(f"select count(*) from audiences.{name}").fetchone()[0])
        for (name,) in audiences
    ]
    report.sync_rows = latest_syncs(state)
    headline = table(
        ("people", "customers", "orders", "net revenue"),
        [(people, customers, orders, float(revenue))],
    )
    syncs = (
        table(SYNC_COLUMNS, report.sync_rows)
        if report.sync_rows
        else "<p>No sync has run yet (<code>recur sync</code>).</p>"
    )
    sections = [
        ("In numbers", headline),
        (
            "Retention",
            f"<p class='note'>{MIN_RULE}</p>"
            + figures(report, "Retention, all cohorts", "Retention on, by cohort"),
        ),
        (
            "Lifetime value",
            ltv_status.warning_html(con)
            + figures(report, "Historical LTV curves", "Predicted LTV", "Churn score"),
        ),
        ("Segments", figure("RFM segments", report.charts["RFM segments"])),
        ("Funnels", figure("Funnels", report.charts["Funnels"])),
        ("Audiences", table(("audience", "members"), sizes)),
        ("Last sync of each audience", syncs),
        ("Campaign uplift", figure("Campaign uplift", report.charts["Campaign uplift"])),
        ("Event names", event_names_section(con)),
    ]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report.path = write_page(
        path, "Recur: retention report", sections, note=f"Generated {generated}."
    )
    return report
