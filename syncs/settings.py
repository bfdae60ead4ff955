"""Numbers the sync library reads from the environment, parsed in one way.

A value that is not what it should be raises :class:`~syncs.errors.SyncConfigError` naming the
variable and the form it takes, before anything is sent.
"""

from __future__ import annotations

import math
import os

from syncs.errors import SyncConfigError


def seconds_from_env(name: str, default: float) -> float:
    """A number of seconds above 0 from the variable ``name``, ``default`` when unset.

    >>> os.environ["HUBSPOT_TIMEOUT_SECONDS"] = "soon"
    >>> seconds_from_env("HUBSPOT_TIMEOUT_SECONDS", 30.0)
    Traceback (most recent call last):
    ...
    syncs.errors.SyncConfigError: HUBSPOT_TIMEOUT_SECONDS='soon' is not a number of seconds above 0 (e.g. 30)
    >>> del os.environ["HUBSPOT_TIMEOUT_SECONDS"]
    """
    raw = (os.environ.get(name) or "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise SyncConfigError(f"{name}={raw!r} is not a number of seconds above 0 (e.g. 30)")
    return value


def count_from_env(name: str, default: int, most: int) -> int:
    """A whole number from 1 to ``most`` from the variable ``name``, ``default`` when unset.

    >>> os.environ["RECUR_SYNC_CONCURRENCY"] = "0"
    >>> count_from_env("RECUR_SYNC_CONCURRENCY", 8, 32)
    Traceback (most recent call last):
    ...
    syncs.errors.SyncConfigError: RECUR_SYNC_CONCURRENCY='0' is not a whole number from 1 to 32 (e.g. 8)
    >>> del os.environ["RECUR_SYNC_CONCURRENCY"]
    """
    raw = (os.environ.get(name) or "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = 0
    if not 1 <= value <= most:
        raise SyncConfigError(
            f"{name}={raw!r} is not a whole number from 1 to {most} (e.g. {default})"
        )
    return value
