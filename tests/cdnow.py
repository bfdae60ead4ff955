"""CDNOW (Fader & Hardie's 1/10 sample, 2,357 customers) from the installed lifetimes wheel.

lifetimes is a test-only dependency that carries the data; it is located through package
metadata and never imported (the import costs ~2 s and warns under pandas 3). The files are
third-party research data, so they are read in place and never copied into the repository.
"""

from __future__ import annotations

import importlib.metadata
from functools import cache
from pathlib import Path

import pandas as pd

CALIBRATION_END = "1997-09-30"  # 39 weeks after the cohort's first day, 1997-01-01


def dataset(name: str) -> Path:
    """Path of ``lifetimes/datasets/<name>`` in the installed wheel."""
    try:
        distribution = importlib.metadata.distribution("lifetimes")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            "the CDNOW tests read their data from the lifetimes wheel: pip install -e '.[dev]'"
        ) from None
    path = Path(str(distribution.locate_file(f"lifetimes/datasets/{name}")))
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the installed lifetimes wheel")
    return path


@cache
def _summary() -> pd.DataFrame:
    return pd.read_csv(dataset("cdnow_customers_summary_with_transactions.csv"))


def summary() -> pd.DataFrame:
    """Columns ``ID, x, t_x, T, zbar``: repeat purchase days, weeks, mean repeat-day value."""
    return _summary().copy()


@cache
def _transactions() -> pd.DataFrame:
    raw = pd.read_csv(
        dataset("CDNOW_sample.txt"),
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
    )
    raw["date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    return raw


def transactions() -> pd.DataFrame:
    """6,919 purchases: ``customer_id`` (1..2357), ``date``, ``cds``, ``amount`` (dollars)."""
    return _transactions().copy()


def write_mixpanel_exports(root: Path) -> dict[str, int]:
    """CDNOW_sample as a Mixpanel raw export under ``root/mixpanel``: one JSONL file per day
    (1997-01-01 .. 1998-06-30), each purchase a ``Purchase`` event at noon UTC (same-day purchases
    of one customer a second apart) with ``revenue`` (dollars) and ``quantity`` (CDs). People are
    ``cdnow-<sample id>``; there are no profiles, so nobody has an email. Returns lines per day."""
    import json

    purchases = transactions()
    purchases["n"] = purchases.groupby(["date", "customer_id"]).cumcount()
    seconds = (purchases["date"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    purchases["time"] = seconds + 12 * 3600 + purchases["n"]
    folder = root / "mixpanel"
    folder.mkdir(parents=True, exist_ok=True)
    lines_per_day: dict[str, int] = {}
    for day, rows in purchases.groupby(purchases["date"].dt.strftime("%Y-%m-%d")):
        lines = [
            json.dumps(
                {
                    "event": "Purchase",
                    "properties": {
                        "time": int(row.time),
                        "distinct_id": f"cdnow-{row.customer_id}",
                        "$user_id": f"cdnow-{row.customer_id}",
                        "$insert_id": f"cdnow-{row.Index}",
                        "revenue": float(row.amount),
                        "quantity": int(row.cds),
                    },
                }
            )
            for row in rows.itertuples()
        ]
        (folder / f"{day}.jsonl").write_text("\n".join(lines) + "\n")
        lines_per_day[day] = len(lines)
    return lines_per_day
