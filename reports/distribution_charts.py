"""The predicted-LTV and churn-score histograms as PNG; the numbers come from
reports/distributions.py. While the LTV model is not estimable the chart says why instead."""

from __future__ import annotations

import duckdb
import matplotlib.pyplot as plt

from reports import distributions
from reports.charts import to_png
from reports.distributions import Histogram

MARK_COLORS = ("#c44e52", "#dd8452")


def _empty_chart(title: str, reason: str) -> bytes:
    figure, axes = plt.subplots(figsize=(8, 1.2))
    axes.text(0.5, 0.5, f"Nothing to show: {reason}", ha="center", va="center", wrap=True)
    axes.set_axis_off()
    axes.set_title(title)
    return to_png(figure)


def _draw(histogram: Histogram, title: str, xlabel: str, log: bool) -> bytes:
    if histogram.empty_reason is not None:
        return _empty_chart(title, histogram.empty_reason)
    bins = histogram.bins
    figure, axes = plt.subplots(figsize=(8, 3.8))
    axes.bar(
        bins["bin_start"],
        bins["customers"],
        width=bins["bin_end"] - bins["bin_start"],
        align="edge",
        color="#4c72b0",
        edgecolor="white",
    )
    for (name, value), color in zip(histogram.marks.items(), MARK_COLORS, strict=False):
        axes.axvline(
            value, color=color, linestyle="--", linewidth=1.2, label=f"{name} {value:,.2f}"
        )
    if log:
        axes.set_xscale("log")
    note = ", ".join(f"{n} {label}" for label, n in histogram.left_out.items())
    axes.set_xlabel(xlabel + (f" (not shown: {note})" if note else ""))
    axes.set_ylabel("customers")
    groups = ", ".join(f"{name} {n:,}" for name, n in histogram.groups.items())
    axes.set_title(f"{title}: {int(bins['customers'].sum()):,} customers ({groups})", fontsize=10)
    if histogram.marks:
        axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    return to_png(figure)


def predicted_ltv(con: duckdb.DuckDBPyConnection) -> bytes:
    """Customers by predicted 12-month LTV (log scale), the tier cut points marked."""
    return _draw(
        distributions.predicted_ltv(con),
        "Predicted 12-month LTV by tier",
        "predicted LTV over the next 12 months (log scale)",
        log=True,
    )


def churn_scores(con: duckdb.DuckDBPyConnection) -> bytes:
    """Customers by churn score, the band thresholds marked."""
    return _draw(
        distributions.churn_scores(con),
        "Churn score by band",
        "probability of no purchase in the next 90 days",
        log=False,
    )
