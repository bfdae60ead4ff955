"""The HubSpot destination: contacts by email, custom properties, MANUAL lists.

* Contacts are written with ``batch/upsert`` (``update`` mode: ``batch/update``), 100 inputs per
  call, ``idProperty: email``, each input carrying ``objectWriteTraceId`` = the row's key; results
  and 207 errors are mapped back by trace id, email or record id, never by position.
* Custom properties (``recur_*``) are created when missing, typed from the audience column.
* A sync's list is found by name or created as MANUAL; members are added and removed by record id.
* Every request waits for the :class:`~syncs.pacing.RateLimiter`, which learns HubSpot's window
  from the ``X-HubSpot-RateLimit-*`` headers, so 429s stay rare. urllib3's own retries are off:
  the engine retries with HubSpot's semantics (423, 429 policies, 477).
* The engine may call it from several threads at once (``concurrent``): the generated client
  keeps no per-call state and urllib3's pool is thread-safe; the pool holds one connection per
  batch in flight, and every thread waits for the same pacer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

from hubspot import HubSpot
from hubspot.crm import contacts as hs_contacts
from hubspot.crm import lists as hs_lists
from hubspot.crm import properties as hs_properties
from urllib3.exceptions import HTTPError as TransportError

from syncs import pacing
from syncs.destinations.base import Capabilities, Destination, FieldInfo, Row, RowResult
from syncs.destinations.hubspot.errors import body_of, classify
from syncs.destinations.hubspot.settings import HubSpotSettings
from syncs.errors import FatalError, RetryableError, SyncConfigError
from syncs.pacing import RateLimiter
from syncs.spec import SyncSpec

API_ERRORS = (hs_contacts.ApiException, hs_lists.ApiException, hs_properties.ApiException)
CONTACTS = "0-1"
BATCH_SIZE = 100
#: HubSpot's Professional/Enterprise burst limit, until the first answer's headers say otherwise.
DEFAULT_LIMIT, DEFAULT_INTERVAL = 190, 10.0

#: Property type and field type per value kind (reference/hubspot.md §6).
PROPERTY_TYPES = {
    "string": ("string", "text"),
    "number": ("number", "number"),
    "bool": ("bool", "booleancheckbox"),
    "date": ("date", "date"),
    "datetime": ("datetime", "date"),
}


def shared_limiter(base_url: str, headroom: int) -> RateLimiter:
    """One pacer per HubSpot account in this process: syncs run one after another share it."""
    return pacing.shared_limiter(base_url, DEFAULT_LIMIT, DEFAULT_INTERVAL, headroom)


def to_hubspot(value: str, kind: str) -> str:
    """A rendered value as HubSpot wants it: dates as midnight-UTC epoch milliseconds."""
    if not value:
        return ""  # clears the property
    if kind == "date":
        day = date.fromisoformat(value[:10])
        return str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000))
    if kind == "datetime":
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return str(int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000))
    return value


class HubSpotDestination(Destination):
    """HubSpot CRM contacts and lists. ``settings`` usually come from :meth:`from_env`."""

    name = "hubspot"
    capabilities = Capabilities(batch_size=BATCH_SIZE, lists=True, concurrent=True)
    #: Connections kept per API (urllib3 drops, and reopens, any beyond): more than batches in
    #: flight at once.
    POOL_SIZE = 32

    def __init__(self, settings: HubSpotSettings, limiter: RateLimiter | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.limiter = limiter or shared_limiter(settings.base_url, settings.headroom)
        client = HubSpot(
            access_token=settings.access_token,
            host=settings.base_url,
            retry=False,
            connection_pool_maxsize=self.POOL_SIZE,
        )
        # Each attribute access builds a new ApiClient (and connection pool): keep them.
        self._batch = client.crm.contacts.batch_api
        self._lists = client.crm.lists.lists_api
        self._memberships = client.crm.lists.memberships_api
        self._properties = client.crm.properties.core_api
        self._fields: dict[str, FieldInfo] = {}
        self._list_id: str | None = None

    @property
    def endpoint(self) -> str:
        return self.settings.base_url

    @classmethod
    def from_env(cls) -> HubSpotDestination:
        """Configured from ``HUBSPOT_ACCESS_TOKEN`` / ``HUBSPOT_BASE_URL``; raises NotConfigured."""
        return cls(HubSpotSettings.from_env())

    # -- plumbing -----------------------------------------------------------------------------

    def _request(
        self,
        what: str,
        call: Callable[..., Any],
        *args: Any,
        write: bool,
        raw: bool = False,
        **kw: Any,
    ):
        """One paced HTTP call; returns ``(data, status)`` or raises an engine error. ``raw``:
        ``data`` is the answer's JSON as dicts (HubSpot's camelCase names), not client models:
        building the models cost ~30-50 ms of CPU per 100-contact batch (issue 14)."""
        sent_at = self.limiter.acquire()
        waited = self.limiter.last_wait
        try:
            if raw:
                answer = call(
                    *args, _request_timeout=self.settings.timeout, _preload_content=False, **kw
                )
                try:
                    body, status, headers = answer.data, answer.status, answer.headers
                finally:
                    answer.release_conn()
                data = json.loads(body) if body else {}
            else:
                data, status, headers = call(*args, _request_timeout=self.settings.timeout, **kw)
        except API_ERRORS as exc:
            self.limiter.answered(sent_at)
            status = int(exc.status or 0)
            headers = dict(exc.headers or {})
            self.limiter.observe(headers)
            self.stats.count(status, write=write, waited=waited)
            raise classify(
                status, body_of(exc), headers, what=what, hint=self.limiter.wait_hint()
            ) from None
        except TransportError as exc:
            self.stats.count(0, write=write, waited=waited)
            raise RetryableError(f"HubSpot {what}: {type(exc).__name__}: {exc}") from None
        self.limiter.answered(sent_at)
        self.limiter.observe(dict(headers or {}))
        self.stats.count(status, write=write, waited=waited)
        return data, status

    # -- preparing ------------------------------------------------------------------------------

    def open(self, spec: SyncSpec, fields: Sequence[FieldInfo]) -> None:
        """Check the sync fits HubSpot, create missing properties, find or create the list."""
        if spec.object != "contacts":
            raise SyncConfigError(f"{spec.name}: only HubSpot contacts are supported")
        if "email" not in spec.match_key.lower():
            raise SyncConfigError(
                f"{spec.name}: HubSpot contacts are matched by email; set match_key to the "
                f"audience's email column (it is {spec.match_key!r})"
            )
        self._fields = {f.name: f for f in fields}
        self._ensure_properties(fields)
        self._list_id = self._ensure_list(spec.list) if spec.list else None

    def _ensure_properties(self, fields: Sequence[FieldInfo]) -> None:
        data, _ = self._request(
            "read properties", self._properties.get_all_with_http_info, "contacts", write=False
        )
        existing = {p.name for p in data.results}
        missing = [f for f in fields if f.name not in existing]
        if missing:  # each a round trip of its own: sent side by side
            with ThreadPoolExecutor(max_workers=len(missing)) as pool:
                for done in [pool.submit(self._create_property, f) for f in missing]:
                    done.result()

    def _create_property(self, f: FieldInfo) -> None:
        """Create one missing ``recur_*`` property, typed from its audience column."""
        kind, field_type = PROPERTY_TYPES[f.kind]
        options = (
            [
                hs_properties.OptionInput(label="Yes", value="true", display_order=0, hidden=False),
                hs_properties.OptionInput(label="No", value="false", display_order=1, hidden=False),
            ]
            if f.kind == "bool"
            else None
        )
        request = hs_properties.PropertyCreate(
            name=f.name,
            label=f.name.removeprefix("recur_").replace("_", " ").capitalize() + " (Recur)",
            type=kind,
            field_type=field_type,
            group_name="contactinformation",
            description=f"Written by Recur from the audience column {f.column}.",
            options=options,
        )
        try:
            self._request(
                f"create property {f.name}",
                self._properties.create_with_http_info,
                "contacts",
                request,
                write=True,
            )
        except FatalError as exc:
            if exc.status != 409:  # created meanwhile by someone else: fine
                raise

    def _ensure_list(self, name: str) -> str:
        try:
            data, _ = self._request(
                f"find list {name!r}",
                self._lists.get_by_name_with_http_info,
                name,
                CONTACTS,
                write=False,
            )
            return str(data.list.list_id)
        except FatalError as exc:
            if exc.status != 404:
                raise
        data, _ = self._request(
            f"create list {name!r}",
            self._lists.create_with_http_info,
            hs_lists.ListCreateRequest(
                name=name, object_type_id=CONTACTS, processing_type="MANUAL"
            ),
            write=True,
        )
        return str(data.list.list_id)

    # -- writing --------------------------------------------------------------------------------

    def _properties_of(self, row: Row) -> dict[str, str]:
        return {
            name: to_hubspot(value, self._fields[name].kind if name in self._fields else "string")
            for name, value in row.values.items()
        }

    def write(self, spec: SyncSpec, rows: Sequence[Row], *, create: bool) -> list[RowResult]:
        """``batch/upsert`` by email (``create``), else ``batch/update`` by email."""
        if create:
            batch, item, call = (
                hs_contacts.BatchInputSimplePublicObjectBatchInputUpsert,
                hs_contacts.SimplePublicObjectBatchInputUpsert,
                self._batch.upsert_with_http_info,
            )
        else:
            batch, item, call = (
                hs_contacts.BatchInputSimplePublicObjectBatchInput,
                hs_contacts.SimplePublicObjectBatchInput,
                self._batch.update_with_http_info,
            )
        inputs = [
            item(
                id=row.key,
                id_property="email",
                object_write_trace_id=row.key,
                properties=self._properties_of(row),
            )
            for row in rows
        ]
        what = "batch upsert" if create else "batch update"
        data, _ = self._request(what, call, batch(inputs=inputs), write=True, raw=True)
        return self._results(rows, data, create=create)

    def _results(
        self, rows: Sequence[Row], data: Mapping[str, Any], *, create: bool
    ) -> list[RowResult]:
        """Results and per-record errors of a batch answer's JSON, matched to rows by trace id,
        email or record id."""
        keys = {row.key: row.key for row in rows}
        keys.update({row.record_id: row.key for row in rows if row.record_id})
        out: dict[str, RowResult] = {}
        for result in data.get("results") or []:
            email = ((result.get("properties") or {}).get("email") or "").lower()
            key = keys.get(result.get("objectWriteTraceId") or "") or keys.get(email)
            key = key or keys.get(str(result.get("id")))
            if key:
                created = bool(result.get("new", False)) if create else False
                out[key] = RowResult(key, True, str(result.get("id")), created)
        for error in data.get("errors") or []:
            context: Mapping[str, list[str]] = error.get("context") or {}
            values = [v for vs in context.values() for v in (vs or [])]
            category = error.get("category")
            reason = error.get("message") or category or "refused"
            if category == "OBJECT_NOT_FOUND" and not create:
                reason = "no HubSpot contact has this email (mode update never creates contacts)"
            for value in values:
                key = keys.get(value) or keys.get(str(value).lower())
                if key and key not in out:
                    out[key] = RowResult(key, False, reason=reason, category=category)
        return list(out.values())

    def delete(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        body = hs_contacts.BatchInputSimplePublicObjectId(
            inputs=[hs_contacts.SimplePublicObjectId(id=row.record_id) for row in rows]
        )
        self._request("batch archive", self._batch.archive_with_http_info, body, write=True)
        return [RowResult(row.key, True, row.record_id) for row in rows]

    def list_add(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        data, _ = self._request(
            f"add to list {spec.list!r}",
            self._memberships.add_with_http_info,
            self._list_id,
            [row.record_id for row in rows],
            write=True,
        )
        missing = set(data.record_ids_missing or [])
        return [
            RowResult(
                row.key,
                False,
                reason="the contact no longer exists in HubSpot",
                category="OBJECT_NOT_FOUND",
            )
            if row.record_id in missing
            else RowResult(row.key, True, row.record_id)
            for row in rows
        ]

    def list_remove(self, spec: SyncSpec, rows: Sequence[Row]) -> list[RowResult]:
        self._request(
            f"remove from list {spec.list!r}",
            self._memberships.remove_with_http_info,
            self._list_id,
            [row.record_id for row in rows],
            write=True,
        )
        # Records already gone are not members either: the removal holds for every row.
        return [RowResult(row.key, True, row.record_id) for row in rows]

    def close(self) -> None:
        for api in (self._batch, self._lists, self._memberships, self._properties):
            api.api_client.close()
