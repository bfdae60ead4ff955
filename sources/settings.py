"""The ingestion settings that real data needs, parsed and validated in one place.

* ``RECUR_EARLIEST_EVENT`` (``YYYY-MM-DD``, default ``2000-01-01``): events stamped before this
  day (00:00 UTC) are quarantined by the loader, and the quality checks (``checks.thresholds``)
  use the same day. ``RECUR_CHECK_EARLIEST_EVENT``, the checks' own setting before there was one
  for both, is still read as a deprecated alias (a warning says to rename it); both set to
  different days is an error.
* ``RECUR_MIXPANEL_TIMEZONE`` (an IANA name such as ``America/Los_Angeles``, default ``UTC``): the
  Mixpanel project's time zone. Projects created before 2023 export ``properties.time`` as the
  project's local wall-clock seconds; the loader converts them to UTC.

The library never reads the environment while it loads: the caller builds an
:class:`IngestSettings` (``IngestSettings.from_env(os.environ)`` in
``orchestration/environment.py``, explicit values in tests) and passes it to
:func:`sources.loader.load_days`. A bad value fails here, before any file is read, with a message
naming the variable and the accepted form. The values reach SQL only as bound parameters.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

import duckdb

from sources.errors import SettingError

EARLIEST_EVENT_ENV = "RECUR_EARLIEST_EVENT"
#: The checks' own name for the same day, read while users rename it.
DEPRECATED_EARLIEST_EVENT_ENV = "RECUR_CHECK_EARLIEST_EVENT"
MIXPANEL_TIMEZONE_ENV = "RECUR_MIXPANEL_TIMEZONE"

DEFAULT_EARLIEST_EVENT = date(2000, 1, 1)
UTC = "UTC"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(name: str, raw: str) -> date:
    """``raw`` (the value of variable ``name``) as a day, or an error naming both."""
    value = raw.strip()
    try:
        if not _DATE.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise SettingError(
            f"{name}={raw!r} is not a date (YYYY-MM-DD, e.g. 1990-01-01); fix or unset it"
        ) from None


@cache
def _time_zones() -> frozenset[str]:
    """The zone names DuckDB's ICU extension knows, which is what converts the times."""
    with duckdb.connect() as con:
        return frozenset(
            n for (n,) in con.execute("select name from pg_timezone_names()").fetchall()
        )


def parse_time_zone(name: str, raw: str) -> str:
    """``raw`` (the value of variable ``name``) as a time-zone name, or an error naming both."""
    value = raw.strip()
    if value.upper() == UTC:
        return UTC
    zones = _time_zones()
    if value in zones:
        return value
    close = difflib.get_close_matches(value, sorted(zones), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise SettingError(
        f"{name}={raw!r} is not a time zone (an IANA name such as America/Los_Angeles, "
        f"or UTC){hint}"
    )


def earliest_event_from_env(environ: Mapping[str, str]) -> date:
    """The earliest accepted event day: ``RECUR_EARLIEST_EVENT``, else the deprecated
    ``RECUR_CHECK_EARLIEST_EVENT``, else 2000-01-01."""
    new = (environ.get(EARLIEST_EVENT_ENV) or "").strip()
    old = (environ.get(DEPRECATED_EARLIEST_EVENT_ENV) or "").strip()
    day = parse_date(EARLIEST_EVENT_ENV, new) if new else None
    if old:
        old_day = parse_date(DEPRECATED_EARLIEST_EVENT_ENV, old)
        if day is not None and day != old_day:
            raise SettingError(
                f"{EARLIEST_EVENT_ENV}={new!r} and {DEPRECATED_EARLIEST_EVENT_ENV}={old!r} differ: "
                f"unset {DEPRECATED_EARLIEST_EVENT_ENV} (replaced by {EARLIEST_EVENT_ENV}, which "
                "the loader and the checks share)"
            )
        warnings.warn(
            f"{DEPRECATED_EARLIEST_EVENT_ENV} is deprecated: rename it to {EARLIEST_EVENT_ENV} "
            "(one day for the loader and the checks)",
            FutureWarning,
            stacklevel=2,
        )
        day = old_day
    return day or DEFAULT_EARLIEST_EVENT


@dataclass(frozen=True)
class IngestSettings:
    """What the loader needs to know about the data beyond the files themselves."""

    #: Events before this day (00:00 UTC, after any time-zone conversion) are quarantined.
    earliest_event: date = DEFAULT_EARLIEST_EVENT
    #: The Mixpanel project's time zone: ``properties.time`` is wall-clock seconds in it.
    mixpanel_timezone: str = UTC

    def __post_init__(self) -> None:
        if not isinstance(self.earliest_event, date) or isinstance(self.earliest_event, datetime):
            raise SettingError(
                f"earliest_event={self.earliest_event!r} is not a date (datetime.date)"
            )
        object.__setattr__(
            self,
            "mixpanel_timezone",
            parse_time_zone("mixpanel_timezone", self.mixpanel_timezone),
        )

    def ledger_tag(self, source: str) -> str:
        """What the loader appends to a file's sha256 in the ledger: the settings that change
        what ``source``'s files load as, empty when they are the defaults (so a warehouse loaded
        before these settings existed is not reloaded)."""
        parts = []
        if self.earliest_event != DEFAULT_EARLIEST_EVENT:
            parts.append(f";earliest={self.earliest_event.isoformat()}")
        if source == "mixpanel" and self.mixpanel_timezone != UTC:
            parts.append(f";timezone={self.mixpanel_timezone}")
        return "".join(parts)

    def mixpanel_today(self) -> date:
        """Today in the Mixpanel project's time zone: days from this one on have not ended, so
        the Export API client refuses them (``MixpanelExportClient(today=...)``)."""
        with duckdb.connect() as con:
            query = "select timezone(?, now())::date"
            return con.execute(query, [self.mixpanel_timezone]).fetchone()[0]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IngestSettings:
        """The defaults, with ``RECUR_EARLIEST_EVENT`` and ``RECUR_MIXPANEL_TIMEZONE`` applied."""
        zone = (environ.get(MIXPANEL_TIMEZONE_ENV) or "").strip()
        return cls(
            earliest_event=earliest_event_from_env(environ),
            mixpanel_timezone=parse_time_zone(MIXPANEL_TIMEZONE_ENV, zone) if zone else UTC,
        )
