"""The report's cohort charts (pooled retention curve, heatmap, LTV curves), RFM segments and
funnels as PNG, from the analytics marts.

Plain matplotlib on the Agg backend (no display needed); each function takes a DuckDB connection
and returns PNG bytes, so Dagster, the HTML report and tests use them alike. The cohort numbers
come from reports/cohorts.py, which the tests check; this module only draws them.
"""

from __future__ import annotations

import io

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from reports import cohorts  # noqa: E402
from reports.cohorts import MIN_PEOPLE  # noqa: E402

MAX_PERIODS = 30  # columns of the heatmap: enough to read day 7 and day 30


def to_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _cut_note(min_people: int) -> str:
    return f"lines stop where fewer than {min_people} people are observed"


def retention_curve(con: duckdb.DuckDBPyConnection, min_people: int = MIN_PEOPLE) -> bytes:
    """The pooled retention curve, on and on or after, over every cohort that reached each
    period, with the people it rests on (bars, right axis); cut below ``min_people``."""
    pooled = cohorts.pooled_retention(con, min_people)
    if pooled.empty:
        raise ValueError("analytics.retention_cohorts is empty: build the analytics models first")
    unit = con.execute("select any_value(period_unit) from analytics.retention_cohorts").fetchone()
    shown = pooled[pooled["enough_people"]]
    figure, axes = plt.subplots(figsize=(9, 4.5))
    people = axes.twinx()
    people.bar(pooled["period"], pooled["eligible_users"], color="#dddddd", width=0.8)
    people.axhline(min_people, color="#999999", linewidth=0.8, linestyle=":")
    people.set_ylabel(f"people observed (dotted: {min_people})")
    axes.set_zorder(people.get_zorder() + 1)
    axes.patch.set_visible(False)
    for column, label, color in (
        ("retention_on_or_after", "on or after", "#c44e52"),
        ("retention_on", "on", "#4c72b0"),
    ):
        axes.plot(shown["period"], shown[column] * 100, marker=".", color=color, label=label)
    axes.set_ylim(0, 105)
    axes.set_xlabel(f"{unit[0]}s since first seen")
    axes.set_ylabel("% of the people observed")
    axes.set_title(
        "Retention, all cohorts pooled (sum retained / sum observed)\n" + _cut_note(min_people),
        fontsize=10,
    )
    axes.legend(loc="upper right", fontsize=8)
    axes.grid(alpha=0.3)
    return to_png(figure)


def retention_heatmap(
    con: duckdb.DuckDBPyConnection,
    grain: str = "week",
    metric: str = "retention_on",
    min_people: int = MIN_PEOPLE,
) -> bytes:
    """Cohorts at ``grain`` down, periods across, the % retained written in each cell; blank
    where not every day of the cohort is observed yet or fewer than ``min_people`` are."""
    cells = cohorts.retention_cells(con, grain, min_people)
    cells = cells[cells["period"] <= MAX_PERIODS]
    if cells.empty:
        raise ValueError("analytics.retention_cohorts is empty: build the analytics models first")
    unit = con.execute("select any_value(period_unit) from analytics.retention_cohorts").fetchone()
    rows = sorted(cells["cohort"].unique())
    periods = int(cells["period"].max()) + 1
    grid = np.full((len(rows), periods), np.nan)
    for cell in cells[cells["enough_people"]].itertuples():
        grid[rows.index(cell.cohort), cell.period] = getattr(cell, metric) * 100
    sizes = cells.groupby("cohort")["cohort_users"].first()
    figure, axes = plt.subplots(figsize=(min(2 + periods * 0.45, 16), 1.5 + len(rows) * 0.32))
    image = axes.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=100)
    for (row, period), value in np.ndenumerate(grid):
        if not np.isnan(value):
            color = "white" if value > 60 else "black"
            axes.text(
                period, row, f"{value:.0f}", ha="center", va="center", fontsize=6, color=color
            )
    grain_shown = cells["grain"].iloc[0]
    axes.set_xticks(range(periods))
    axes.set_xticklabels(range(periods), fontsize=7)
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels(
        [f"{grain_shown} of {c:%Y-%m-%d} (n={sizes[c]:,})" for c in rows], fontsize=7
    )
    axes.set_xlabel(f"{unit[0]}s since first seen")
    title = "Retention on" if metric == "retention_on" else "Retention on or after"
    axes.set_title(
        f"{title}, % of each {grain_shown}'s cohort observed (blank: not every day of the cohort "
        f"observed yet, or fewer than {min_people} people)",
        fontsize=9,
    )
    figure.colorbar(image, ax=axes, label="%")
    return to_png(figure)


def ltv_curves(
    con: duckdb.DuckDBPyConnection,
    grain: str = "week",
    latest: int = 8,
    min_people: int = MIN_PEOPLE,
) -> bytes:
    """Cumulative revenue per person by period since start, one line per cohort at ``grain``
    (the ``latest`` ones), plus the pooled curve; every line cut below ``min_people``."""
    curves = cohorts.revenue_curves(con, grain, min_people)
    pooled = cohorts.pooled_revenue_curve(con, min_people)
    if pooled.empty:
        raise ValueError("analytics.revenue_cohorts is empty: build the analytics models first")
    unit = con.execute("select any_value(period_unit) from analytics.revenue_cohorts").fetchone()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    shown = curves[curves["enough_people"]]
    for cohort in sorted(shown["cohort"].unique())[-latest:]:
        line = shown[shown["cohort"] == cohort]
        grain_shown = line["grain"].iloc[0]
        axes.plot(
            line["period"],
            line["cumulative_revenue_per_user"],
            linewidth=1,
            label=f"{grain_shown} of {cohort:%Y-%m-%d}",
        )
    pooled = pooled[pooled["enough_people"]]
    axes.plot(
        pooled["period"],
        pooled["cumulative_revenue_per_user"],
        color="black",
        linewidth=2.5,
        label="all cohorts (each period pooled)",
    )
    axes.set_xlabel(f"{unit[0]}s since first seen")
    axes.set_ylabel("cumulative revenue per person")
    axes.set_title("Historical LTV curves by cohort\n" + _cut_note(min_people), fontsize=10)
    axes.legend(fontsize=7, ncol=2)
    axes.grid(alpha=0.3)
    return to_png(figure)


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
        return to_png(figure)
    figure, axes = plt.subplots(figsize=(7, 0.6 + 0.32 * len(rows)))
    bars = axes.barh([r[0] for r in rows], [r[1] for r in rows], color="#4c72b0")
    axes.bar_label(bars, fontsize=8, padding=2)
    axes.set_xlabel("customers")
    axes.set_title("RFM segments")
    axes.grid(axis="x", alpha=0.3)
    return to_png(figure)


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
    return to_png(figure)
