"""The ingestion settings that real data needs, parsed and validated in one place.

* ``RECUR_EARLIEST_EVENT`` (``YYYY-MM-DD``, default ``2000-01-01``): events stamped before this
  day (00:00 UTC) are quarantined by the loader, and the quality checks (``checks.thresholds``)
  use the same day. ``RECUR_CHECK_EARLIEST_EVENT``, the checks' own setting before there was one
  for both, is still read as a deprecated alias (a warning says to rename it); both set to
  different days is an error.
* ``RECUR_MIXPANEL_TIMEZONE`` (an IANA name such as ``America/Los_Angeles``, default ``UTC``): the
  Mixpanel project's time zone. Projects created before 2023 export ``properties.time`` as the
  project's local wall-clock seconds; the loader converts them to UTC.
* ``RECUR_MAX_INFLATED_BYTES`` (bytes, with an optional ``K``/``M``/``G``/``T`` binary suffix,
  default ``64GiB``) and ``RECUR_MAX_INFLATION_RATIO`` (default ``100``): how far one compressed
  export (a Mixpanel ``.gz``, an Amplitude zip with all its members) may inflate before the loader
  refuses it (:mod:`sources.inflation`). The loader needs memory in proportion to the text it
  reads, so a 100 KB zip inflating to 100 MB of ``{}`` lines once took 17.6 GB.

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
MAX_INFLATED_BYTES_ENV = "RECUR_MAX_INFLATED_BYTES"
MAX_INFLATION_RATIO_ENV = "RECUR_MAX_INFLATION_RATIO"

DEFAULT_EARLIEST_EVENT = date(2000, 1, 1)
UTC = "UTC"
# Amplitude refuses an export larger than 4 GB (formats.md), and its gzip NDJSON inflates about
# 10x: a real zip stays under 40 GB of text. A Mixpanel day that large is some 50M events.
DEFAULT_MAX_INFLATED_BYTES = 64 * 2**30
# Real exports inflate 5-15x (JSON events with ids and timestamps); deflate's ceiling is 1032x,
# which is what a bomb of repeated lines reaches. 100 leaves real data a wide margin.
DEFAULT_MAX_INFLATION_RATIO = 100.0

_SIZE = re.compile(r"(\d+)\s*([KMGT]?)(I?B)?", re.IGNORECASE)

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


def parse_bytes(name: str, raw: str) -> int:
    """``raw`` (the value of variable ``name``) as a number of bytes (``2GiB``, ``512M``,
    ``1000000``), or an error naming both."""
    match = _SIZE.fullmatch(raw.strip())
    if not match or int(match.group(1)) == 0:
        raise SettingError(
            f"{name}={raw!r} is not a size: give bytes, or a number with K, M, G or T "
            "(binary multiples), e.g. 64GiB"
        )
    return int(match.group(1)) * 1024 ** " KMGT".index((match.group(2) or " ").upper())


def parse_ratio(name: str, raw: str) -> float:
    """``raw`` (the value of variable ``name``) as an inflation ratio of at least 1."""
    try:
        value = float(raw.strip())
    except ValueError:
        value = float("nan")
    if not value >= 1:
        raise SettingError(
            f"{name}={raw!r} is not a ratio of at least 1 (inflated size / compressed size, "
            "e.g. 100)"
        )
    return value


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
    #: The most text one compressed export (a ``.gz`` file, a zip and its members) may inflate to.
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES
    #: The most one compressed export may inflate, as inflated size / compressed size.
    max_inflation_ratio: float = DEFAULT_MAX_INFLATION_RATIO

    def __post_init__(self) -> None:
        if not isinstance(self.max_inflated_bytes, int) or self.max_inflated_bytes < 1:
            raise SettingError(f"max_inflated_bytes={self.max_inflated_bytes!r} is not a size")
        if not self.max_inflation_ratio >= 1:
            raise SettingError(f"max_inflation_ratio={self.max_inflation_ratio!r} is below 1")
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
        """The defaults, with ``RECUR_EARLIEST_EVENT``, ``RECUR_MIXPANEL_TIMEZONE`` and the
        inflation limits applied."""
        zone = (environ.get(MIXPANEL_TIMEZONE_ENV) or "").strip()
        size = environ.get(MAX_INFLATED_BYTES_ENV) or ""
        ratio = environ.get(MAX_INFLATION_RATIO_ENV) or ""
        return cls(
            earliest_event=earliest_event_from_env(environ),
            mixpanel_timezone=parse_time_zone(MIXPANEL_TIMEZONE_ENV, zone) if zone else UTC,
            max_inflated_bytes=(
                parse_bytes(MAX_INFLATED_BYTES_ENV, size)
                if size.strip()
                else DEFAULT_MAX_INFLATED_BYTES
            ),
            max_inflation_ratio=(
                parse_ratio(MAX_INFLATION_RATIO_ENV, ratio)
                if ratio.strip()
                else DEFAULT_MAX_INFLATION_RATIO
            ),
        )
