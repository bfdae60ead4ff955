"""Cohort retention heatmap and LTV curves as PNG, from the analytics marts.

Plain matplotlib on the Agg backend (no display needed); each function takes a DuckDB connection
and returns PNG bytes, so Dagster, the HTML report and tests use them alike.
"""

from __future__ import annotations

import io

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

MAX_PERIODS = 30  # columns of the heatmap: enough to read day 7 and day 30


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def retention_heatmap(con: duckdb.DuckDBPyConnection, metric: str = "retention_on") -> bytes:
    """Cohorts down, periods across, the share retained in each cell (blank where censored)."""
    rows = con.execute(
        f"""select cohort_date, period, {metric}, cohort_users, period_unit
            from analytics.retention_cohorts where period <= ? order by cohort_date, period""",
        [MAX_PERIODS],
    ).fetchall()
    if not rows:
        raise ValueError("analytics.retention_cohorts is empty: build the analytics models first")
    cohorts = sorted({r[0] for r in rows})
    periods = max(r[1] for r in rows) + 1
    grid = np.full((len(cohorts), periods), np.nan)
    sizes = {}
    for cohort, period, value, size, _ in rows:
        grid[cohorts.index(cohort), period] = value
        sizes[cohort] = size
    unit = rows[0][4]
    figure, axes = plt.subplots(figsize=(min(2 + periods * 0.45, 16), 1.5 + len(cohorts) * 0.28))
    image = axes.imshow(grid * 100, aspect="auto", cmap="Blues", vmin=0, vmax=100)
    axes.set_xticks(range(periods))
    axes.set_xticklabels(range(periods), fontsize=7)
    axes.set_yticks(range(len(cohorts)))
    axes.set_yticklabels([f"{c} (n={sizes[c]})" for c in cohorts], fontsize=7)
    axes.set_xlabel(f"{unit} since first seen")
    title = "Retention on" if metric == "retention_on" else "Retention on or after"
    axes.set_title(f"{title}, % of each cohort (blank: not yet observable)")
    figure.colorbar(image, ax=axes, label="%")
    return _png(figure)


def ltv_curves(con: duckdb.DuckDBPyConnection, cohorts: int = 8) -> bytes:
    """Cumulative revenue per person by period since start, one line per cohort (the latest
    ``cohorts``), plus the pooled curve over all cohorts."""
    rows = con.execute(
        """select cohort_date, period, cumulative_revenue_per_user, period_unit
           from analytics.revenue_cohorts order by cohort_date, period"""
    ).fetchall()
    if not rows:
        raise ValueError("analytics.revenue_cohorts is empty: build the analytics models first")
    pooled = con.execute(
        """select period, sum(cumulative_revenue_per_user * eligible_users) / sum(eligible_users)
           from analytics.revenue_cohorts group by period order by period"""
    ).fetchall()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    latest = sorted({r[0] for r in rows})[-cohorts:]
    for cohort in latest:
        points = [(p, v) for c, p, v, _ in rows if c == cohort]
        axes.plot([p for p, _ in points], [v for _, v in points], linewidth=1, label=str(cohort))
    axes.plot(
        [p for p, _ in pooled],
        [v for _, v in pooled],
        color="black",
        linewidth=2.5,
        label="all cohorts",
    )
    axes.set_xlabel(f"{rows[0][3]}s since first seen")
    axes.set_ylabel("cumulative revenue per person")
    axes.set_title("Historical LTV curves by cohort")
    axes.legend(fontsize=7, ncol=2)
    axes.grid(alpha=0.3)
    return _png(figure)


def segment_sizes(con: duckdb.DuckDBPyConnection) -> bytes:
    """Customers per RFM segment, largest first (horizontal bars with counts). With no customer
    (no event carries revenue: an app without purchases, or a new store) the chart says so: an
    empty user_rfm is a result, not an error."""
    rows = con.execute(
        "select rfm_segment, count(*) from analytics.user_rfm group by 1 order by 2, 1"
    ).fetchall()
    if not rows:
        figure, axes = plt.subplots(figsize=(7, 1.2))
        axes.text(
            0.5,
            0.5,
            "No customers yet: RFM segments need orders (events that carry revenue)",
            ha="center",
            va="center",
        )
        axes.set_axis_off()
        axes.set_title("RFM segments")
        return _png(figure)
    figure, axes = plt.subplots(figsize=(7, 0.6 + 0.32 * len(rows)))
    bars = axes.barh([r[0] for r in rows], [r[1] for r in rows], color="#4c72b0")
    axes.bar_label(bars, fontsize=8, padding=2)
    axes.set_xlabel("customers")
    axes.set_title("RFM segments")
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def funnels(con: duckdb.DuckDBPyConnection) -> bytes:
    """Each funnel's people per step, labelled with the conversion from the first step."""
    rows = con.execute(
        """select funnel_name, step_number, step_name, users, conversion_from_start
           from analytics.funnel_conversion order by funnel_name, step_number"""
    ).fetchall()
    if not rows:
        raise ValueError("analytics.funnel_conversion is empty: build the analytics models first")
    names = sorted({r[0] for r in rows})
    figure, all_axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for axes, name in zip(all_axes[0], names, strict=True):
        steps = [r for r in rows if r[0] == name]
        bars = axes.bar([r[2] for r in steps], [r[3] for r in steps], color="#55a868")
        axes.bar_label(bars, labels=[f"{r[3]:,}\n{r[4]:.0%}" for r in steps], fontsize=8)
        axes.set_title(f"Funnel: {name}")
        axes.tick_params(axis="x", labelrotation=20, labelsize=8)
        axes.set_ylabel("people")
        axes.margins(y=0.2)
    return _png(figure)
