"""The numbers behind the report's predicted-LTV and churn histograms (the charts only draw them).

Predicted 12-month LTV is skewed (most customers bought once and are worth a little, a few are
worth a lot), so its bins are even on a log scale: 1, 1.5, 2, 3, 5, 7 times each power of ten.
Churn scores are probabilities, in bins of 0.05 whose edges include the band thresholds.
While the LTV model is not estimable every prediction is null; the histograms are then empty and
carry the reason (reports/ltv_status.py) for the chart to say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from reports import ltv_status

LOG_STEPS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)  # bin edges per power of ten: about even in log
CHURN_BIN = 0.05
# churn_band thresholds of analytics.churn_risk (docs/metrics.md, "Churn risk"): low < 0.5 <=
# medium < 0.8 <= high
CHURN_BANDS = {"medium": 0.5, "high": 0.8}


@dataclass
class Histogram:
    """Counts per bin (columns bin_start, bin_end, customers), lines to mark (name -> value),
    customers per tier or band, customers left out of the bins with why, and the reason when
    there is nothing to count."""

    bins: pd.DataFrame
    marks: dict[str, float] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    empty_reason: str | None = None


def log_edges(low: float, high: float) -> np.ndarray:
    """Bin edges from the largest LOG_STEPS edge <= ``low`` to the smallest one > ``high``.

    >>> log_edges(1.7, 9.0).tolist()
    [1.5, 2.0, 3.0, 5.0, 7.0, 10.0]
    """
    edges = []
    for power in range(math.floor(math.log10(low)), math.floor(math.log10(high)) + 2):
        edges += [step * 10.0**power for step in LOG_STEPS]
    edges = np.array(edges)
    first = np.searchsorted(edges, low, side="right") - 1
    last = np.searchsorted(edges, high, side="right")
    return edges[first : last + 1]


def _counts(values: np.ndarray, edges: np.ndarray) -> pd.DataFrame:
    # np.histogram's last bin is closed on the right; every other bin is [start, end)
    counts, _ = np.histogram(values, bins=edges)
    return pd.DataFrame({"bin_start": edges[:-1], "bin_end": edges[1:], "customers": counts})


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"bin_start": [], "bin_end": [], "customers": []})


def _no_predictions(con: duckdb.DuckDBPyConnection, customers: int) -> str:
    if customers == 0:
        return "no customers yet (no purchase recorded)"
    return (
        ltv_status.not_estimable_reason(con) or ltv_status.withheld_reason(con) or "no prediction"
    )


def predicted_ltv(con: duckdb.DuckDBPyConnection) -> Histogram:
    """Customers per bin of predicted_ltv_12m (log bins, above 0), with the LTV tier cut points
    marked: the lowest prediction in tier high and in tier medium."""
    rows = con.execute(
        """select predicted_ltv_12m, ltv_tier from analytics.customer_ltv
           where predicted_ltv_12m is not null"""
    ).fetchall()
    customers = con.execute("select count(*) from analytics.customer_ltv").fetchone()[0]
    if not rows:
        return Histogram(_empty(), empty_reason=_no_predictions(con, customers))
    values = np.array([r[0] for r in rows], dtype=float)
    positive = values[values > 0]
    left_out = {"predicted 0 or less": int((values <= 0).sum())}
    bins = (
        _counts(positive, log_edges(positive.min(), positive.max())) if positive.size else _empty()
    )
    marks = {
        f"tier {tier} from": min(v for v, t in rows if t == tier)
        for tier in ("high", "medium")
        if any(t == tier for _, t in rows)
    }
    groups = {tier: sum(t == tier for _, t in rows) for tier in ("high", "medium", "low")}
    return Histogram(bins, marks, groups, {k: v for k, v in left_out.items() if v})


def churn_scores(con: duckdb.DuckDBPyConnection) -> Histogram:
    """Customers per 0.05 of churn_score, the band thresholds marked."""
    scores = con.execute(
        "select churn_score, churn_band from analytics.churn_risk where churn_score is not null"
    ).fetchall()
    customers = con.execute("select count(*) from analytics.churn_risk").fetchone()[0]
    if not scores:
        return Histogram(_empty(), empty_reason=_no_predictions(con, customers))
    steps = round(1 / CHURN_BIN)
    edges = np.arange(steps + 1) / steps  # 16 / 20 is exactly 0.8: a score of 0.8 bins as high
    bins = _counts(np.array([s for s, _ in scores], dtype=float), edges)
    groups = {band: sum(b == band for _, b in scores) for band in ("high", "medium", "low")}
    marks = {f"{band} from": cut for band, cut in CHURN_BANDS.items()}
    return Histogram(bins, marks, groups)
