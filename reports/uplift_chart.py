"""The uplift picture: per sync, the difference between the people sent and the holdout, with its
95% interval, for each metric of analytics.audience_uplift (all entry periods together)."""

from __future__ import annotations

import duckdb
import matplotlib.pyplot as plt

from reports.charts import to_png
from reports.distribution_charts import _empty_chart

METRICS = (
    ("purchase_conversion", "purchase conversion (points)", 100.0),
    ("return", "return (points)", 100.0),
    ("revenue_per_person", "revenue per person", 1.0),
)


def uplift_rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(sync, metric, difference, low, high, treatment people, holdout people, p-value) of the
    pooled rows; [] before any holdout's window has closed (or before the model was built)."""
    try:
        return con.execute(
            """select sync, metric, difference, difference_ci_low, difference_ci_high,
                      treatment_people, holdout_people, p_value
               from analytics.audience_uplift
               where entry_period is null and holdout_people > 0 and treatment_people > 0
               order by sync, metric"""
        ).fetchall()
    except duckdb.CatalogException:
        return []


def uplift(con: duckdb.DuckDBPyConnection) -> bytes:
    """One panel per metric: a dot for each sync's difference, a bar for its interval, a line at
    zero (an interval across it is no evidence of an effect)."""
    rows = uplift_rows(con)
    if not rows:
        return _empty_chart(
            "Campaign uplift",
            "it needs a sync with a holdout and people whose window has closed",
        )
    syncs = sorted({r[0] for r in rows})
    figure, all_axes = plt.subplots(
        1, len(METRICS), figsize=(4.2 * len(METRICS), 0.9 + 0.45 * len(syncs)), sharey=True
    )
    for axes, (metric, label, scale) in zip(all_axes, METRICS, strict=True):
        for y, sync in enumerate(syncs):
            found = [r for r in rows if r[0] == sync and r[1] == metric]
            # No interval (a group of one person): nothing to draw.
            if not found or found[0][3] is None or found[0][4] is None:
                continue
            _, _, diff, low, high, n_t, n_h, p = found[0]
            diff, low, high = float(diff), float(low), float(high)
            shown_p = f"{float(p):.2g}" if p is not None else "n/a"
            axes.plot([low * scale, high * scale], [y, y], color="#4c72b0", linewidth=2)
            axes.plot([diff * scale], [y], "o", color="#c44e52")
            axes.annotate(
                f"{diff * scale:+.2f}  p={shown_p}  n={n_t:,}/{n_h:,}",
                (diff * scale, y),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
            )
        axes.axvline(0, color="grey", linewidth=1)
        axes.set_yticks(range(len(syncs)), syncs, fontsize=8)
        axes.set_ylim(-0.6, len(syncs) - 0.4)
        axes.set_xlabel(f"sent - holdout: {label}")
        axes.grid(axis="x", alpha=0.3)
    figure.suptitle("Campaign uplift, 95% intervals (n = sent / held out)")
    return to_png(figure)
