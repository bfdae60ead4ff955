"""Time units: every model stores the unit its ``t_x``, ``T`` and rate parameters are in.

A BG/NBD fitted in weeks has an ``alpha`` seven times smaller than the same fit in days; using
weekly parameters with horizons counted in days silently inflates every forecast (CDNOW's
12-month CLV is 30.34 in weeks and 114 when the weekly model is read as daily). So the unit
travels with the parameters, and horizons given in months are converted here.

One calendar throughout: a month is 365.25 / 12 = 30.4375 days, so 4.348 weeks. lifetimes uses
4.345 weeks but 30 days a month, so its values in days and in weeks disagree by 1.4 %; with one
calendar the same customers get the same CLV in any unit (CDNOW's mean: 30.357 here, 30.339 with
lifetimes' 4.345).

>>> periods_per_month("weeks")
4.348214285714286
>>> to_days(2.0, "weeks")
14.0
"""

from __future__ import annotations

from clv.errors import TimeUnitError

DAYS_PER_MONTH = 365.25 / 12
DAYS_PER_UNIT: dict[str, float] = {
    "hours": 1 / 24,
    "days": 1.0,
    "weeks": 7.0,
    "months": DAYS_PER_MONTH,
}
TIME_UNITS = tuple(DAYS_PER_UNIT)


def check_unit(unit: str) -> str:
    """Return ``unit`` if it is one of `TIME_UNITS`, else raise `TimeUnitError`."""
    if unit not in DAYS_PER_UNIT:
        raise TimeUnitError(
            f"time unit {unit!r} is not one of {', '.join(TIME_UNITS)}; pass the unit the "
            "recency and age (t_x, T) are measured in"
        )
    return unit


def days_per_unit(unit: str) -> float:
    """Length of one ``unit`` in days (``"weeks"`` -> 7.0)."""
    return DAYS_PER_UNIT[check_unit(unit)]


def periods_per_month(unit: str) -> float:
    """How many ``unit`` periods make one (average Gregorian) month."""
    return DAYS_PER_MONTH / days_per_unit(unit)


def to_days(value: float, unit: str) -> float:
    """Convert a duration in ``unit`` to days."""
    return value * days_per_unit(unit)


def conversion_factor(from_unit: str, to_unit: str) -> float:
    """Multiply a duration in ``from_unit`` by this to express it in ``to_unit``."""
    return days_per_unit(from_unit) / days_per_unit(to_unit)
