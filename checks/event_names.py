"""Configured event names against the names in the data.

Every event name Recur looks for is a dbt var (the "Event names" block of dbt_project.yml:
funnel steps, cart and purchase events, retention start and return events) or a row of the
seed ``event_weights``. The model ``analytics.event_name_settings`` records, for each build, the
names it was built with and how many events each matched. A name that matched nothing is
almost always a naming mismatch (``Purchase`` configured, ``purchase`` sent): the model's
numbers are then silently zero. This module turns those names into warnings that give the
closest names seen, for Dagster, ``recur run`` and the report. No Dagster import.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

#: The model that records the configured names (dbt_project/models/marts/analytics).
SETTINGS_TABLE = "analytics.event_name_settings"
EVENTS_TABLE = "core.fct_events"


@dataclass(frozen=True)
class EventNameWarning:
    """A configured event name that matched no event, where it is set, and similar names seen."""

    event_name: str
    settings: tuple[str, ...]
    closest: tuple[str, ...]

    @property
    def message(self) -> str:
        hint = f"closest: {', '.join(self.closest)}" if self.closest else "no similar name seen"
        return f"'{self.event_name}' matched no event; {hint} (set in {', '.join(self.settings)})"


def normalized(name: str) -> str:
    """Lower case, runs of anything but letters and digits as one space: ``Add To Cart``,
    ``add_to_cart`` and ``add-to-cart`` all read ``add to cart``."""
    return re.sub(r"[^0-9a-z]+", " ", name.lower()).strip()


def closest_names(name: str, seen: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` names from ``seen`` most like ``name``, best first, compared case- and
    separator-insensitively (difflib's ratio on the normalized names); exact names first."""
    by_key: dict[str, list[str]] = {}
    for candidate in sorted(set(seen)):
        by_key.setdefault(normalized(candidate), []).append(candidate)
    keys = difflib.get_close_matches(normalized(name), list(by_key), n=n, cutoff=cutoff)
    found = [candidate for key in keys for candidate in by_key[key]]
    return found[:n]


def unmatched(
    configured: Iterable[tuple[str, str]], seen: Iterable[str], n: int = 3
) -> list[EventNameWarning]:
    """One warning per configured name (``(setting, event_name)`` pairs) that is not exactly
    one of the names ``seen`` (the models compare names exactly, case included), in the order
    first configured."""
    seen = set(seen)
    settings: dict[str, list[str]] = {}
    for setting, name in configured:
        if name is None or name in seen:
            continue
        where = settings.setdefault(name, [])
        if setting not in where:
            where.append(setting)
    return [
        EventNameWarning(name, tuple(where), tuple(closest_names(name, seen, n=n)))
        for name, where in settings.items()
    ]


def configured_name_warnings(con: duckdb.DuckDBPyConnection) -> list[EventNameWarning]:
    """The warnings for the names the warehouse was last built with; [] when it has no
    ``analytics.event_name_settings`` yet (nothing built that far)."""
    try:
        configured = con.execute(
            f"select setting, event_name from {SETTINGS_TABLE} order by position"
        ).fetchall()
        seen = [
            r[0] for r in con.execute(f"select distinct event_name from {EVENTS_TABLE}").fetchall()
        ]
    except duckdb.CatalogException:
        return []
    return unmatched(configured, seen)
