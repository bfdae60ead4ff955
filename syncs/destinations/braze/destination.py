"""The Braze destination: user profiles through ``POST /users/track``.

* One attribute object per row, at most 75 per request (``BRAZE_BATCH_SIZE``), naming the user by
  ``external_id``, or by ``email`` when the sync's match key is an email column
  (:func:`identifier_for`). ``upsert`` sends ``_update_existing_only: false`` (unknown users are
  created), ``update`` sends ``true``.
* Braze has no static lists over REST; segments are built from attributes. A sync's ``list`` is
  therefore a value of the array attribute ``recur_audiences``: members get it with
  ``{"add": [list]}`` and leavers lose it with ``{"remove": [list]}``, so one person in several
  Recur audiences carries each of their names. These objects always say
  ``_update_existing_only: true``: taking someone off an audience never creates a profile.
* Minor errors in a ``201`` answer name their object by ``index``: those rows are refused with
  Braze's words and stay dirty; the others are confirmed. An error that names no object leaves
  every row of the request unconfirmed (retried next run) rather than guessing.
* Every request waits for the :class:`~syncs.pacing.RateLimiter` (3,000 requests per 3 s until
  the answers' ``X-RateLimit-*`` headers say otherwise). A 429 waits until ``X-RateLimit-Reset``.
* Braze returns no record ids; the identifier is the record id. It does not say whether a
  request created a profile either, so ``mirror`` (delete what this sync created) is refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import urllib3  # requests' own transport (a dependency of requests): thread-safe pooling

from syncs.destinations.base import Capabilities, Destination, FieldInfo, Row, RowResult
from syncs.destinations.braze.errors import (
    body_of,
    classify,
    describe_error,
    int_header,
    reset_in,
)
from syncs.destinations.braze.settings import MAX_BATCH, BrazeSettings
from syncs.emails import is_email_name
from syncs.errors import BatchRejected, RetryableError, SyncConfigError
from syncs.pacing import RateLimiter, shared_limiter
from syncs.spec import SyncSpec

TRACK = "/users/track"
#: The array attribute holding the names of the Recur audiences a person is in.
AUDIENCES_ATTRIBUTE = "recur_audiences"
#: Braze's default ``/users/track`` limit (requests per window, window in seconds).
DEFAULT_LIMIT, DEFAULT_INTERVAL = 3000, 3.0
#: Braze limits custom attribute names (and string values) to 255 characters.
MAX_NAME = 255
#: Keys of an attribute object that are not attributes, or that Braze keeps for itself.
RESERVED = frozenset(
    {"external_id", "user_alias", "braze_id", "phone", "_update_existing_only",
     "push_token_import", "push_tokens", AUDIENCES_ATTRIBUTE}
)  # fmt: skip
OBJECTS = ("users", "contacts")
MIRROR_REFUSED = (
    "Braze does not say whether /users/track created a profile or updated one that existed, so "
    "Recur cannot tell the profiles it may delete from everyone else's; use upsert, and let the "
    "recur_audiences attribute say who left"
)


def identifier_for(match_key: str) -> str:
    """The Braze identifier a sync's match key fills: ``email`` for an email column (the same
    rule that decides which columns are validated as addresses), else ``external_id``.

    >>> identifier_for("email"), identifier_for("work_email"), identifier_for("user_id")
    ('email', 'email', 'external_id')
    """
    return "email" if is_email_name(match_key) else "external_id"


def to_braze(value: str, kind: str) -> Any:
    """A rendered value as a JSON value Braze types: numbers and booleans as such, dates as ISO
    8601 times at midnight UTC, "" as null (which removes the attribute).

    >>> [to_braze(v, k) for v, k in [("8.75", "number"), ("3", "number"), ("true", "bool"),
    ...     ("2026-01-05", "date"), ("", "string"), ("gold", "string")]]
    [8.75, 3, True, '2026-01-05T00:00:00Z', None, 'gold']

    JSON has no NaN or infinity: such a number raises ValueError (the row is refused unsent).
    """
    if value == "":
        return None
    if kind == "number":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{value} is not a finite number, and JSON numbers must be")
        return (
            int(number)
            if number.is_integer() and "." not in value and "e" not in value.lower()
            else number
        )
    if kind == "bool":
        return value == "true"
    if kind == "date":
        return f"{value[:10]}T00:00:00Z"
    if kind == "datetime":
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


class BrazeDestination(Destination):
    """Braze user profiles and audience membership as an array attribute."""

    name = "braze"
    capabilities = Capabilities(
        batch_size=MAX_BATCH,
        modes=frozenset({"upsert", "update"}),
        lists=True,
        concurrent=True,
        why_not=(("mirror", MIRROR_REFUSED),),
    )
    #: Connections kept (more than batches in flight at once, engine.MOST_CONCURRENCY).
    POOL_SIZE = 32

    def __init__(self, settings: BrazeSettings, limiter: RateLimiter | None = None) -> None:
        super().__init__()
        self.settings = settings
        if settings.batch_size != MAX_BATCH:
            self.capabilities = replace(self.capabilities, batch_size=settings.batch_size)
        self.limiter = limiter or shared_limiter(
            settings.rest_url, DEFAULT_LIMIT, DEFAULT_INTERVAL, settings.headroom
        )
        # No urllib3 retries: the engine retries, with Braze's semantics (429 until the reset).
        self._http = urllib3.PoolManager(maxsize=self.POOL_SIZE, retries=False)
        self._fields: dict[str, FieldInfo] = {}
        self._identifier = "external_id"

    @property
    def endpoint(self) -> str:
        return self.settings.rest_url

    @classmethod
    def from_env(cls) -> BrazeDestination:
        """Configured from ``BRAZE_API_KEY`` / ``BRAZE_REST_URL``; raises NotConfigured."""
        return cls(BrazeSettings.from_env())

    # -- preparing ------------------------------------------------------------------------------

    def open(self, spec: SyncSpec, fields: Sequence[FieldInfo]) -> None:
        """Check the sync fits Braze (nothing is sent: attributes need no creating)."""
        if spec.object not in OBJECTS:
            raise SyncConfigError(
                f"{spec.name}: Braze syncs write user profiles; set object to users "
                f"(it is {spec.object!r})"
            )
        self._identifier = identifier_for(spec.match_key)
        for f in fields:
            if f.name in RESERVED or f.name.startswith("$") or len(f.name) > MAX_NAME:
                raise SyncConfigError(
                    f"{spec.name}: {f.name!r} cannot be a Braze attribute name here (Braze keeps "
                    f"{', '.join(sorted(RESERVED))} for identifiers and Recur's audiences, and "
                    f"limits names to {MAX_NAME} characters); rename it in fields"
                )
        if spec.list is not None and not 0 < len(spec.list) <= MAX_NAME:
            raise SyncConfigError(
                f"{spec.name}: list {spec.list!r} must be 1 to {MAX_NAME} characters: it becomes "
                f"a value of the {AUDIENCES_ATTRIBUTE} array attribute"
            )
        self._fields = {f.name: f for f in fields}

    # -- plumbing -------------------------------------------------------------------------------

    def _track(self, objects: list[dict[str, Any]], *, what: str) -> tuple[int, dict[str, Any]]:
        """One paced ``POST /users/track`` with ``objects`` as its attributes; returns the status
        and body of a 2xx answer, raises the engine's error for a 429, 5xx or refused key, and
        returns a 400 with per-object errors for the caller to map."""
        sent_at = self.limiter.acquire()
        waited = self.limiter.last_wait
        try:
            answer = self._http.request(
                "POST",
                self.settings.rest_url + TRACK,
                body=json.dumps({"attributes": objects}, allow_nan=False).encode(),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {self.settings.api_key}",
                },
                timeout=urllib3.Timeout(total=self.settings.timeout),
            )
        except urllib3.exceptions.HTTPError as exc:
            # The exception's text names the host and the error, never the request headers.
            self.stats.count(0, write=True, waited=waited)
            raise RetryableError(f"Braze {what}: {type(exc).__name__}: {exc}") from None
        self.limiter.answered(sent_at)
        headers = dict(answer.headers)
        self.limiter.observe_window(
            limit=int_header(headers, "X-RateLimit-Limit"),
            remaining=int_header(headers, "X-RateLimit-Remaining"),
            reset_in=reset_in(headers),
        )
        self.stats.count(answer.status, write=True, waited=waited)
        body = body_of(answer.data)
        if 200 <= answer.status < 300:
            return answer.status, body
        if answer.status == 400 and _indexed(body.get("errors")):
            return answer.status, body
        raise classify(answer.status, body, headers, hint=self.limiter.wait_hint())

    def _results(
        self, rows: Sequence[Row], status: int, body: Mapping[str, Any]
    ) -> list[RowResult]:
        """One result per row: refused where a minor error names its index, unconfirmed for all
        when an error names none, else confirmed with the identifier as record id."""
        refused: dict[int, str] = {}
        unplaced: list[str] = []
        for error in body.get("errors") or []:
            index = error.get("index") if isinstance(error, Mapping) else None
            array = error.get("input_array", "attributes") if isinstance(error, Mapping) else None
            if isinstance(index, int) and array == "attributes" and 0 <= index < len(rows):
                reason = f"Braze: {describe_error(error)}"
                refused[index] = f"{refused[index]}; {reason}" if index in refused else reason
            else:
                unplaced.append(describe_error(error))
        if status == 400 and len(refused) < len(rows):
            # Nothing of a 400 was applied: split until the refused rows are alone.
            raise BatchRejected(f"Braze /users/track: 400 {body.get('message')}", 400)
        if unplaced:
            reason = f"Braze reported errors it tied to no user: {'; '.join(unplaced)}"
            return [RowResult(row.key, False, reason=reason, category="unplaced") for row in rows]
        return [
            RowResult(row.key, False, reason=refused[i], category="minor_error")
            if i in refused
            else RowResult(row.key, True, row.key)
            for i, row in enumerate(rows)
        ]

    def _object(self, key: str, *, existing_only: bool) -> dict[str, Any]:
        return {self._identifier: key, "_update_existing_only": existing_only}

    # -- writing --------------------------------------------------------------------------------

    def write(self, spec: SyncSpec, rows: Sequence[Row], *, create: bool) -> list[RowResult]:
        """The rows' attributes; ``create=False`` (mode update) never creates a profile. A row
        with a value JSON cannot carry (a NaN) is refused without being sent."""
        objects, sent, unsent = [], [], []
        for row in rows:
            try:
                values = {
                    name: to_braze(value, self._fields[name].kind if name in self._fields else "")
                    for name, value in row.values.items()
                }
            except ValueError as exc:
                unsent.append(RowResult(row.key, False, reason=str(exc), category="invalid_value"))
                continue
            objects.append({**values, **self._object(row.key, existing_only=not create)})
            sent.append(row)
        if not objects:
            return unsent
        status, body = self._track(objects, what="attributes")
        return self._results(sent, status, body) + unsent

    def _membership(self, spec: SyncSpec, rows: Sequence[Row], op: str) -> list[RowResult]:
        objects = [
            {**self._object(row.key, existing_only=True), AUDIENCES_ATTRIBUTE: {op: [spec.list]}}
            for row in rows
        ]
        status, body = self._track(objects, what=f"{op} {spec.list!r} in {AUDIENCES_ATTRIBUTE}")
        return self._results(rows, status, body)

    def list_add(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        """Add the sync's list name to each person's ``recur_audiences``."""
        return self._membership(spec, rows, "add")

    def list_remove(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        """Remove the sync's list name from each person's ``recur_audiences``."""
        return self._membership(spec, rows, "remove")

    def close(self) -> None:
        self._http.clear()


def _indexed(errors: Any) -> bool:
    """Whether an answer's errors name objects by index (a 400 whose every object was bad)."""
    return bool(errors) and all(
        isinstance(e, Mapping) and isinstance(e.get("index"), int) for e in errors
    )
