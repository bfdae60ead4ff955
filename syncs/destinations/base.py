"""The destination contract: a few calls, each answering row by row.

A destination declares what it can do (:class:`Capabilities`) apart from how it does it. The
engine gives it batches of at most ``batch_size`` rows and expects one :class:`RowResult` per
row it was given, matched by key, never by position. A row missing from the answer counts as
not confirmed and stays dirty. Whole-request problems are raised as the errors of
:mod:`syncs.errors`.

Two shapes of destination fit:

* record APIs (HubSpot, Braze ``/users/track``): :meth:`Destination.write` adds or updates
  records, :meth:`Destination.delete` removes the ones the sync created (``mirror``), and with
  ``lists`` the audience is also kept as a static list;
* snapshots (files): ``snapshot=True``, and :meth:`Destination.write_snapshot` receives every
  member whenever anything changed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from syncs.spec import SyncSpec

#: Value kinds a destination may format differently (HubSpot dates are epoch milliseconds).
KINDS = ("string", "number", "bool", "date", "datetime")


@dataclass(frozen=True)
class Capabilities:
    """What a destination supports, declared apart from its client.

    ``concurrent``: its calls may run in several threads at once, so the engine keeps several
    batches in flight (``RECUR_SYNC_CONCURRENCY``); otherwise it sends one at a time.
    """

    batch_size: int
    modes: frozenset[str] = frozenset({"upsert", "update", "mirror"})
    lists: bool = False
    snapshot: bool = False
    concurrent: bool = False
    #: Why a mode is missing from ``modes`` (mode, reason), for the error a sync asking for it gets.
    why_not: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FieldInfo:
    """A mapped field: the audience column it comes from and its type there."""

    name: str
    column: str
    kind: str
    sql_type: str


@dataclass(frozen=True)
class Row:
    """One audience member as sent: its key, the mapped values as text ("" = empty)."""

    key: str
    values: Mapping[str, str]
    record_id: str | None = None


@dataclass(frozen=True)
class RowResult:
    """The destination's answer for one row."""

    key: str
    ok: bool
    record_id: str | None = None
    created: bool = False
    reason: str | None = None
    category: str | None = None


@dataclass
class Stats:
    """Request counters a destination keeps for the run history and the benchmarks; safe to
    count from several threads."""

    requests: int = 0
    write_requests: int = 0
    throttled: int = 0
    waited_seconds: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, status: int, *, write: bool, waited: float = 0.0) -> None:
        """One request answered with ``status`` (0: no answer; 429 counts as throttled) after
        ``waited`` seconds for the pacer."""
        with self._lock:
            self.requests += 1
            self.write_requests += int(write)
            self.throttled += int(status == 429)
            self.waited_seconds += waited
            self.by_status[status] = self.by_status.get(status, 0) + 1


class Destination:
    """Base class of destinations; override what :attr:`capabilities` promises."""

    name: str = ""
    capabilities: Capabilities = Capabilities(batch_size=100)

    def __init__(self) -> None:
        self.stats = Stats()

    @property
    def endpoint(self) -> str:
        """Where requests go; syncs to one endpoint share its outages (engine ``OUTAGES``)."""
        return self.name

    def open(self, spec: SyncSpec, fields: Sequence[FieldInfo]) -> None:
        """Prepare for a run that has something to send (create fields, find the list)."""

    def write(self, spec: SyncSpec, rows: Sequence[Row], *, create: bool) -> list[RowResult]:
        """Add or update records (``create=False``: update existing records only)."""
        raise NotImplementedError(f"{self.name} cannot write records")

    def delete(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        """Remove records this sync created (``mirror``); rows carry their record ids."""
        raise NotImplementedError(f"{self.name} cannot delete records")

    def list_add(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        """Add records (by record id) to the sync's static list."""
        raise NotImplementedError(f"{self.name} has no lists")

    def list_remove(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        """Remove records (by record id) from the sync's static list."""
        raise NotImplementedError(f"{self.name} has no lists")

    def write_snapshot(self, spec: SyncSpec, rows: Sequence[Row]) -> None:
        """Replace everything delivered for this sync with ``rows`` (snapshot destinations)."""
        raise NotImplementedError(f"{self.name} does not take snapshots")

    def close(self) -> None:
        """Release connections."""
