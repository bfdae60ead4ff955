"""The e-commerce clickstream of the retentioneering wheel, as Mixpanel daily export files.

``retentioneering/datasets/ecom.csv.gz`` (retentioneering 5.x, Apache-2.0): 31,106 events of 600
people (``user_0000`` ...) on an online electronics store, 2024-01-04 to 2024-06-29, in 3,605
sessions, with the app's own event names (``home``, ``catalog``, ``product_view``,
``add_to_cart``, ``cart``, ``shipping_details``, ``payment_details``, ``purchase``, ...) and no
revenue. Its authors call it synthetic (their own generator, with stories such as a checkout bug
and a payment incident); it is here because nobody here wrote it, and its shapes are not our
generator's. Timestamps are naive, whole seconds; they are read as UTC.

retentioneering is a data-only test dependency (``DATA_PACKAGES`` in the Makefile, installed
without its own dependencies) that carries the file; it is located through package metadata and
never imported. The file is read in place, never copied into the repository.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from functools import cache
from pathlib import Path

import pandas as pd

FILE = "retentioneering/datasets/ecom.csv.gz"

# The app's event names for Recur's settings (dbt_project.yml "Event names"): its purchase funnel
# and its cart events. No event carries revenue, so there are no orders.
FUNNEL_STEPS = ["catalog", "product_view", "add_to_cart", "cart", "payment_details", "purchase"]
FUNNEL_WINDOW_DAYS = 7
DBT_VARS = {
    "funnels": [
        {"name": "checkout", "window_days": FUNNEL_WINDOW_DAYS, "steps": FUNNEL_STEPS},
        {"name": "home_to_purchase", "window_days": 30, "steps": ["home", "purchase"]},
    ],
    "audience_cart_events": ["add_to_cart", "cart"],
    "audience_purchase_event": "purchase",
}


def dataset() -> Path:
    """Path of the CSV in the installed retentioneering wheel."""
    try:
        distribution = importlib.metadata.distribution("retentioneering")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            "the ecom clickstream tests read their data from the retentioneering wheel: "
            "make install (or pip install --no-deps retentioneering==5.2.4)"
        ) from None
    path = Path(str(distribution.locate_file(FILE)))
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the installed retentioneering wheel")
    return path


@cache
def _events() -> pd.DataFrame:
    frame = pd.read_csv(dataset(), dtype=str)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="%Y-%m-%d %H:%M:%S")
    frame["row"] = range(len(frame))
    return frame


def events() -> pd.DataFrame:
    """One row per CSV line: ``user_id, session_id, event, timestamp`` (naive, UTC), the segment
    columns ``platform, acquisition_channel, user_cohort, user_lifecycle``, and ``row`` (the
    line's index, 0-based)."""
    return _events().copy()


def insert_id(row: int) -> str:
    """A stable ``$insert_id`` for a CSV line (32 hex characters, within Mixpanel's 36)."""
    return hashlib.md5(f"ecom:{row}".encode()).hexdigest()


def write_mixpanel_exports(out: Path, frame: pd.DataFrame, insert_ids: bool = True) -> list[Path]:
    """Write ``frame`` (from :func:`events`) as Mixpanel raw-export files, one
    ``mixpanel/YYYY-MM-DD.jsonl`` per UTC day under ``out``, lines in time order. Each line is
    one CSV row: the event name as is, ``time`` in epoch seconds, ``distinct_id`` and
    ``$user_id`` the user id, the session id and segments as custom properties, and, unless
    ``insert_ids`` is false, an ``$insert_id`` per row as an SDK sends."""
    folder = out / "mixpanel"
    folder.mkdir(parents=True, exist_ok=True)
    ordered = frame.sort_values(["timestamp", "row"], kind="stable")
    seconds = (ordered["timestamp"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    days = ordered["timestamp"].dt.strftime("%Y-%m-%d")
    lines: dict[str, list[str]] = {}
    for record, secs, day in zip(ordered.to_dict("records"), seconds, days, strict=True):
        properties = {
            "time": int(secs),
            "distinct_id": record["user_id"],
            "$user_id": record["user_id"],
            "session_id": record["session_id"],
            "platform": record["platform"],
            "acquisition_channel": record["acquisition_channel"],
            "user_cohort": record["user_cohort"],
            "user_lifecycle": record["user_lifecycle"],
        }
        if insert_ids:
            properties["$insert_id"] = insert_id(record["row"])
        lines.setdefault(day, []).append(
            json.dumps({"event": record["event"], "properties": properties})
        )
    paths = []
    for day, day_lines in sorted(lines.items()):
        path = folder / f"{day}.jsonl"
        path.write_text("\n".join(day_lines) + "\n")
        paths.append(path)
    return paths


def gap_sessions(frame: pd.DataFrame, timeout_minutes: int = 30) -> pd.Series:
    """Session number per event (per person, from 1) by Recur's Mixpanel rule, computed here on
    its own: a new session after more than ``timeout_minutes`` without events, and at UTC
    midnight."""
    ordered = frame.sort_values(["user_id", "timestamp", "row"], kind="stable")
    previous = ordered.groupby("user_id")["timestamp"].shift()
    starts = (
        previous.isna()
        | (ordered["timestamp"] - previous > pd.Timedelta(minutes=timeout_minutes))
        | (ordered["timestamp"].dt.normalize() != previous.dt.normalize())
    )
    return starts.astype(int).groupby(ordered["user_id"]).cumsum().reindex(frame.index)


def funnel_users(frame: pd.DataFrame, steps: list[str], window_days: int) -> list[int]:
    """People reaching each step of a funnel, counted as Recur documents (Mixpanel's unique-people
    rule): a person's first event of step 1 starts the attempt; each next step is their first
    event of it at or after the previous step's time and before step 1 + ``window_days``."""
    first = frame[frame["event"] == steps[0]].groupby("user_id")["timestamp"].min()
    reached = first.rename("reached").to_frame().assign(started=first)
    counts = [len(reached)]
    for step in steps[1:]:
        candidates = frame.loc[frame["event"] == step, ["user_id", "timestamp"]].merge(
            reached, left_on="user_id", right_index=True
        )
        within = candidates[
            (candidates["timestamp"] >= candidates["reached"])
            & (candidates["timestamp"] < candidates["started"] + pd.Timedelta(days=window_days))
        ]
        grouped = within.groupby("user_id")
        reached = pd.DataFrame(
            {"reached": grouped["timestamp"].min(), "started": grouped["started"].first()}
        )
        counts.append(len(reached))
    return counts
