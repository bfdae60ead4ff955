"""An in-memory destination, for tests and for trying a sync without any service.

It behaves like a record API with lists: ids are assigned on create, ``update`` refuses unknown
keys, and faults can be planted: keys it refuses one by one (a 207), keys that make it refuse a
whole batch (a 400), and errors to raise on the next calls (429s, outages, a crash).
``MemoryDestination(concurrent=True)`` lets the engine send it several batches at once (each
call holds a lock, so its dicts stay consistent).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from syncs.destinations.base import Capabilities, Destination, Row, RowResult
from syncs.spec import SyncSpec


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``method`` holding the destination's lock (the engine may call from threads)."""

    @functools.wraps(method)
    def locked(self: MemoryDestination, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class MemoryDestination(Destination):
    """Records in a dict; ``records[key]`` holds the last values, ``members`` the list."""

    name = "memory"

    def __init__(self, batch_size: int = 100, *, concurrent: bool = False) -> None:
        super().__init__()
        self.capabilities = Capabilities(batch_size=batch_size, lists=True, concurrent=concurrent)
        self._lock = threading.RLock()
        self.records: dict[str, dict[str, str]] = {}
        self.ids: dict[str, str] = {}
        self.members: set[str] = set()
        self.writes: dict[str, int] = {}
        self.refuse: dict[str, str] = {}  # key -> reason, refused one by one
        self.poison: set[str] = set()  # keys that make the whole batch fail
        self.raises: list[BaseException] = []  # raised by the next calls, in order
        self.calls: list[tuple[str, int]] = []
        self._next_id = 1

    def fail_next(self, errors: Iterable[BaseException]) -> None:
        self.raises.extend(errors)

    def _call(self, op: str, rows: Sequence[Row], *, write: bool = True) -> None:
        self.calls.append((op, len(rows)))
        self.stats.count(200, write=write)
        if self.raises:
            raise self.raises.pop(0)

    @_locked
    def write(self, spec: SyncSpec, rows: Sequence[Row], *, create: bool) -> list[RowResult]:
        from syncs.errors import BatchRejected

        self._call("write", rows)
        bad = [row.key for row in rows if row.key in self.poison]
        if bad:
            raise BatchRejected(f"invalid value for {bad[0]}", 400)
        results = []
        for row in rows:
            if row.key in self.refuse:
                results.append(RowResult(row.key, False, reason=self.refuse[row.key]))
                continue
            created = row.key not in self.ids
            if created and not create:
                results.append(
                    RowResult(row.key, False, reason="no such record", category="OBJECT_NOT_FOUND")
                )
                continue
            if created:
                self.ids[row.key] = str(self._next_id)
                self._next_id += 1
            self.records[row.key] = {**self.records.get(row.key, {}), **row.values}
            self.writes[row.key] = self.writes.get(row.key, 0) + 1
            results.append(RowResult(row.key, True, self.ids[row.key], created))
        return results[::-1]  # not in input order: the engine must match by key

    @_locked
    def delete(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        self._call("delete", rows)
        by_id = {v: k for k, v in self.ids.items()}
        for row in rows:
            key = by_id.get(row.record_id or "")
            if key:
                self.records.pop(key, None)
                self.ids.pop(key, None)
                self.members.discard(key)
        return [RowResult(row.key, True, row.record_id) for row in rows]

    @_locked
    def list_add(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        self._call("list_add", rows)
        by_id = {v: k for k, v in self.ids.items()}
        results = []
        for row in rows:
            key = by_id.get(row.record_id or "")
            if key is None:
                results.append(
                    RowResult(row.key, False, reason="record missing", category="OBJECT_NOT_FOUND")
                )
            else:
                self.members.add(key)
                results.append(RowResult(row.key, True, row.record_id))
        return results

    @_locked
    def list_remove(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        self._call("list_remove", rows)
        by_id = {v: k for k, v in self.ids.items()}
        for row in rows:
            self.members.discard(by_id.get(row.record_id or "", ""))
        return [RowResult(row.key, True, row.record_id) for row in rows]
