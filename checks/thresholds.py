"""Every number the quality suites compare against, in one place.

Defaults suit the embedded setup and the synthetic data (``recur demo`` quarantines about 1% of
lines); each can be overridden by an environment variable ``RECUR_CHECK_<FIELD>``, e.g.
``RECUR_CHECK_MAX_AUDIENCE_CHANGE=1.5`` to let an audience grow to 2.5 times its size once.
The earliest accepted event day is the exception: the loader quarantines by the same day, so both
read ``RECUR_EARLIEST_EVENT`` through :func:`sources.settings.earliest_event_from_env`
(``RECUR_CHECK_EARLIEST_EVENT`` still works there, as a deprecated alias).

>>> Thresholds.from_env({"RECUR_CHECK_MAX_QUARANTINE_RATE": "0.1"}).max_quarantine_rate
0.1
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date

from checks.errors import ThresholdError
from sources.settings import earliest_event_from_env

ENV_PREFIX = "RECUR_CHECK_"


@dataclass(frozen=True)
class Thresholds:
    """Bounds of the suites. Rates are shares (0.05 = 5%)."""

    #: Raw events: timestamps from this day on (``RECUR_EARLIEST_EVENT``, shared with the loader)
    earliest_event: date = date(2000, 1, 1)
    #: ... up to now plus this many hours (clocks of devices run ahead; 2099 does not).
    future_tolerance_hours: float = 24.0
    #: Raw events: per export day, duplicates and quarantined lines over lines read.
    max_duplicate_rate: float = 0.05
    max_quarantine_rate: float = 0.05
    #: Days with fewer lines read are left out of the rates (3 bad lines of 20 are not a trend).
    min_lines_for_rates: int = 100
    #: RFM: no segment holds more than this share of customers ...
    max_segment_share: float = 0.80
    #: ... and there are at least this many segments once there are more than
    #: ``min_customers_for_segments`` customers.
    min_segments: int = 3
    min_customers_for_segments: int = 100
    #: Audiences: the size may change by this share of the last delivered size (0.5 = -50% ..
    #: +50%), checked only when that size was at least ``min_previous_audience``.
    max_audience_change: float = 0.50
    min_previous_audience: int = 20
    #: Syncs that send emails (an email match key or mapped email field): blocked when more than
    #: this share of the audience's members have an address the sync would hold back (missing or
    #: not valid by syncs/emails.py); below it the valid rows sync and the rest are held back.
    max_invalid_email_share: float = 0.05
    #: ... judged only from this many members on: in a smaller audience one bad address is a
    #: large share by chance (1 of 9 is 11%), and the engine holds it back anyway.
    min_members_for_email_share: int = 100
    #: Freshness of the ingest assets and core marts: the last update at most this long ago.
    freshness_hours: float = 36.0
    #: Failing rows shown per failed expectation.
    examples: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Thresholds:
        """The defaults, with every ``RECUR_CHECK_<FIELD>`` set in ``environ`` applied, and
        ``earliest_event`` from ``RECUR_EARLIEST_EVENT``."""
        values: dict[str, object] = {"earliest_event": earliest_event_from_env(environ)}
        for f in fields(cls):
            if f.name == "earliest_event":
                continue
            name = ENV_PREFIX + f.name.upper()
            raw = environ.get(name)
            if raw is None or raw.strip() == "":
                continue
            default = f.default
            try:
                if isinstance(default, date):
                    values[f.name] = date.fromisoformat(raw.strip())
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                else:
                    values[f.name] = float(raw)
            except ValueError:
                kind = type(default).__name__
                raise ThresholdError(
                    f"{name}={raw!r} is not a {kind} (default {default}); fix or unset it"
                ) from None
        return cls(**values)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """The thresholds as plain values (for metadata and docs)."""
        return {
            f.name: (v.isoformat() if isinstance(v := getattr(self, f.name), date) else v)
            for f in fields(self)
        }
