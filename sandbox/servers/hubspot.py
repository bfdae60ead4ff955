"""A local HubSpot: CRM contacts, contact properties and Lists v3, stored in SQLite.

It follows reference/hubspot.md closely enough that the real ``hubspot-api-client`` 12.0.0 runs
unchanged against it (``HubSpot(access_token=SANDBOX_HUBSPOT_TOKEN, host=server.url)``):

* ``POST /crm/v3/objects/contacts/batch/{upsert,update,read,create,archive}``, at most 100
  inputs. Whole-batch 400s for unknown or read-only properties, an invalid email anywhere in the
  batch, a non-unique ``idProperty`` and duplicate ids; per-record errors (bad values, conflicts)
  answer 207 only when every input carries a unique ``objectWriteTraceId``, else the whole batch
  fails. Results come back in reverse input order: clients must map them by id or trace id.
* ``GET /crm/v3/objects/contacts`` (paged) and ``GET /crm/v3/objects/contacts/{id}``.
* ``GET|POST /crm/v3/properties/contacts`` and ``GET /crm/v3/properties/contacts/{name}``.
* ``POST /crm/v3/lists``, ``GET /crm/v3/lists/{id}``, ``GET .../object-type-id/0-1/name/{name}``,
  ``DELETE /crm/v3/lists/{id}``, ``PUT .../memberships/{add,remove,add-and-remove}`` and
  ``GET .../memberships`` (paged).
* Limits: a sliding window of ``rate_limit`` requests per ``rate_interval`` seconds and a daily
  budget (429 with HubSpot's body and ``X-HubSpot-RateLimit-*`` headers on every response), and
  423 Locked when a record is written by more than ``lock_after`` requests in ``lock_seconds``.
* Latency: ``latency=Latency(median=0.4, p99=1.5)`` answers each request after a lognormal
  delay, as HubSpot does from afar (``recur sandbox``: ``SANDBOX_HUBSPOT_LATENCY=0.4:1.5``);
  requests are served concurrently and ``max_in_flight`` records how many were open at once.

Contacts, properties and lists live in SQLite at ``state_path`` (in memory when None), so a
server restarted on the same file finds them again; the write counters and lock history that
tests inspect are in memory only. Every error body has HubSpot's shape: ``status``,
``message``, ``correlationId``, ``category`` (and ``context`` / ``errors`` where HubSpot gives
them); see :func:`hubspot_error`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sandbox.servers.base import Request, Response, SandboxServer, SlidingWindowLimit
from sandbox.servers.latency import Latency

log = logging.getLogger(__name__)

#: The private-app token the sandbox accepts unless told otherwise (``recur sandbox`` prints it).
SANDBOX_HUBSPOT_TOKEN = "sandbox-hubspot-token"

CONTACTS_PATH = "/crm/v3/objects/contacts"
BATCH_PATH = f"{CONTACTS_PATH}/batch"
PROPERTIES_PATH = "/crm/v3/properties/contacts"
LISTS_PATH = "/crm/v3/lists"

#: HubSpot's object type id for contacts.
CONTACT_OBJECT_TYPE = "0-1"
#: Most inputs one batch request may carry.
MAX_BATCH = 100
#: ``Retry-After`` of a scripted 477 (HubSpot: "typically up to 24 hours").
MIGRATION_RETRY_AFTER = "3600"

FIRST_CONTACT_ID = 1001
FIRST_LIST_ID = 1
WRITE_ACTIONS = frozenset({"upsert", "update", "create", "archive"})
PROCESSING_TYPES = frozenset({"MANUAL", "DYNAMIC", "SNAPSHOT"})
EDITABLE_LIST_TYPES = frozenset({"MANUAL", "SNAPSHOT"})
PROPERTY_TYPES = frozenset({"string", "number", "date", "datetime", "enumeration", "bool"})
FIELD_TYPES = frozenset(
    {
        "textarea",
        "text",
        "date",
        "file",
        "number",
        "select",
        "radio",
        "checkbox",
        "booleancheckbox",
        "calculation_equation",
        "phonenumber",
        "html",
    }
)
PROPERTY_GROUPS = frozenset({"contactinformation"})
#: Properties HubSpot maintains itself: never writable, always returned.
SYSTEM_PROPERTIES = ("hs_object_id", "createdate", "lastmodifieddate")
#: What ``batch/read`` and the GET endpoints return when no ``properties`` are asked for.
DEFAULT_READ_PROPERTIES = ("email", "firstname", "lastname", *SYSTEM_PROPERTIES)

LIFECYCLE_STAGES = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)

#: Real top-level domains the email check accepts (HubSpot checks for a real TLD, "after handling
#: unicode TLDs": ``user@email.삼성`` is valid). A sample of IANA's list; unicode TLDs by punycode.
VALID_TLDS = frozenset(
    """
    com org net edu gov mil int info biz name pro mobi app dev io co ai me tv cc ws xyz online
    site store shop tech cloud email digital agency blog news live life world space website
    de fr uk es it nl jp br in au ca us eu ch at be se no dk fi pl pt ie cz sk hu ro gr ru ua tr
    il ae sa za ng ke eg ma cn hk tw kr sg my th vn id ph nz mx ar cl pe uy ve is lu li mc
    example test xn--p1ai xn--3e0b707e xn--fiqs8s xn--cg4bki
    """.split()
)
#: RFC 2822 dot-atom local part (ASCII, unquoted) @ an ASCII (punycode) domain of labels.
_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?P<tld>[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}))",
    re.ASCII,
)
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER = re.compile(r"^-?\d+$")
_MAX_STRING = 65536
_MAX_PAGE = 100
_MAX_MEMBERSHIP_PAGE = 250
_SQL_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY,
    email TEXT,
    props TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    archived_at TEXT
);
CREATE INDEX IF NOT EXISTS contacts_email ON contacts (email);
-- The values of unique properties (email, hasUniqueValue) held by live contacts.
CREATE TABLE IF NOT EXISTS unique_values (
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    contact_id INTEGER NOT NULL,
    PRIMARY KEY (name, value)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS properties (name TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lists (
    list_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    object_type_id TEXT NOT NULL,
    processing_type TEXT NOT NULL,
    list_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS lists_name ON lists (name) WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS memberships (
    list_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (list_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_contact ON memberships (contact_id);
"""


# ------------------------------------------------------------------------------ errors


class HubSpotError(Exception):
    """A refusal the handler answers with :func:`hubspot_error` (raised to unwind a request)."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra

    def response(self) -> Response:
        return hubspot_error(self.status, self.category, self.message, **self.extra)


def hubspot_error(
    status: int,
    category: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """HubSpot's error body: ``{"status": "error", "message", "correlationId", "category", ...}``."""
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return Response.json(status, body, headers)


def rate_limit_body(policy: str) -> dict[str, Any]:
    """The 429 body: ``policy`` is ``TEN_SECONDLY_ROLLING`` or ``DAILY``."""
    limit = "daily" if policy == "DAILY" else "ten_secondly_rolling"
    return {
        "status": "error",
        "message": f"You have reached your {limit} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "requestId": str(uuid.uuid4()),
    }


@dataclass(frozen=True)
class Invalid:
    """One invalid property value, as HubSpot lists them in ``Property values were not valid``."""

    name: str
    code: str
    message: str

    def as_hubspot(self) -> dict[str, Any]:
        return {"isValid": False, "message": self.message, "error": self.code, "name": self.name}

    def detail(self) -> dict[str, Any]:
        """The ``errors[]`` entry (``ErrorDetail``) of a standard error."""
        return {"message": self.message, "code": self.code, "in": self.name}


def not_valid_message(invalid: Sequence[Invalid]) -> str:
    """``Property values were not valid: [{"isValid":false,...}]``, HubSpot's wording."""
    listed = json.dumps([item.as_hubspot() for item in invalid], separators=(",", ":"))
    return f"Property values were not valid: {listed}"


@dataclass
class RecordError:
    """One error of a batch answer (a ``StandardError`` in ``errors[]`` of a 207)."""

    category: str
    message: str
    context: dict[str, list[str]]
    invalid: list[Invalid] = field(default_factory=list)
    #: Whether the error needs unique ``objectWriteTraceId``s to be reported per record (else
    #: the whole batch fails); OBJECT_NOT_FOUND is always reported per record.
    needs_trace: bool = True

    def as_hubspot(self) -> dict[str, Any]:
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context,
            "errors": [item.detail() for item in self.invalid],
            "links": {},
        }


# ------------------------------------------------------------------------------ values


def now_iso() -> str:
    """The current UTC time as HubSpot writes it: ``2024-06-10T15:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_valid_email(value: str) -> bool:
    """HubSpot's documented rule: RFC 2822 syntax, no quoted or unicode local part, a domain that
    ends in a real top-level domain; unicode (IDN) domains count by their punycode form, so
    ``ada@exämple.com`` is valid and ``üñîçødé@exämple.com`` is not. At most 254 characters
    (64 before the ``@``); nothing around the address (no space, no newline)."""
    local, at, domain = value.rpartition("@")
    if not at or not domain or len(value) > 254 or len(local) > 64:
        return False
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    match = _EMAIL.fullmatch(f"{local}@{domain}")
    return match is not None and match["tld"].lower() in VALID_TLDS


def check_value(definition: dict[str, Any], value: str) -> Invalid | None:
    """Why ``value`` does not fit the property's type, or None; ``""`` (clear) always fits."""
    if value == "":
        return None
    name, kind = definition["name"], definition["type"]
    if kind == "number" and not _is_number(value):
        return Invalid(name, "INVALID_INTEGER", f"{value} was not a valid number.")
    if kind == "bool" and value.lower() not in ("true", "false"):
        return Invalid(name, "INVALID_BOOLEAN", f"{value} was not a valid boolean (true/false).")
    if kind == "enumeration":
        allowed = [option["value"] for option in definition.get("options", [])]
        chosen = value.split(";") if definition.get("fieldType") == "checkbox" else [value]
        for option in chosen:
            if option not in allowed:
                return Invalid(
                    name,
                    "INVALID_OPTION",
                    f"{option} was not one of the allowed options: [{', '.join(allowed)}]",
                )
    if kind == "date" and not _is_date(value):
        return Invalid(name, "INVALID_DATE", f"{value} is not a valid date (midnight UTC).")
    if kind == "datetime" and not _is_datetime(value):
        return Invalid(name, "INVALID_DATETIME", f"{value} is not a valid datetime.")
    if kind == "string" and len(value) > _MAX_STRING:
        return Invalid(name, "INVALID_STRING", f"value longer than {_MAX_STRING} characters")
    return None


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _is_date(value: str) -> bool:
    if _INTEGER.match(value):
        return int(value) % 86_400_000 == 0
    if not _DATE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    if _INTEGER.match(value):
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def as_value(raw: Any) -> str:
    """A JSON property value as the string HubSpot stores (None clears, booleans lower-case)."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float | str):
        return str(raw)
    raise HubSpotError(400, "VALIDATION_ERROR", f"Invalid input JSON: {raw!r} is not a value")


def default_properties() -> list[dict[str, Any]]:
    """HubSpot's default contact properties the sandbox starts with."""

    def prop(name: str, label: str, kind: str = "string", field_type: str = "text", **more: Any):
        return {"name": name, "label": label, "type": kind, "fieldType": field_type, **more}

    stages = [
        {"label": label, "value": value, "displayOrder": order, "hidden": False}
        for order, (value, label) in enumerate(LIFECYCLE_STAGES)
    ]
    return [
        prop("email", "Email"),
        prop("firstname", "First Name"),
        prop("lastname", "Last Name"),
        prop("phone", "Phone Number", field_type="phonenumber"),
        prop("city", "City"),
        prop("country", "Country/Region"),
        prop("company", "Company Name"),
        prop("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=stages),
        prop("hs_object_id", "Record ID", "number", "number", readOnly=True),
        prop("createdate", "Create Date", "datetime", "date", readOnly=True),
        prop("lastmodifieddate", "Last Modified Date", "datetime", "date", readOnly=True),
    ]


def property_definition(
    spec: dict[str, Any], *, hubspot_defined: bool, created_at: str
) -> dict[str, Any]:
    """A stored property definition in the shape of the client's ``ModelProperty``."""
    options = [
        {
            "label": str(option.get("label", option.get("value", ""))),
            "value": str(option.get("value", "")),
            "displayOrder": int(option.get("displayOrder", order)),
            "hidden": bool(option.get("hidden", False)),
            "description": str(option.get("description", "")),
        }
        for order, option in enumerate(spec.get("options") or [])
    ]
    read_only = bool(spec.get("readOnly", False))
    definition = {
        "name": spec["name"],
        "label": spec.get("label", spec["name"]),
        "type": spec["type"],
        "fieldType": spec["fieldType"],
        "groupName": spec.get("groupName", "contactinformation"),
        "description": spec.get("description", ""),
        "options": options,
        "displayOrder": int(spec.get("displayOrder", -1)),
        "hasUniqueValue": bool(spec.get("hasUniqueValue", False)),
        "hidden": bool(spec.get("hidden", False)),
        "formField": bool(spec.get("formField", not read_only)),
        "calculated": False,
        "externalOptions": False,
        "archived": False,
        "createdAt": created_at,
        "updatedAt": created_at,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
    }
    if hubspot_defined:
        definition["hubspotDefined"] = True
    return definition


def _chunks(items: Sequence[Any], size: int = _SQL_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(count: int) -> str:
    return ",".join("?" * count)


# ------------------------------------------------------------------------------ contacts


@dataclass
class Contact:
    """One stored contact: writable properties in ``props``, system ones derived."""

    id: int
    props: dict[str, str]
    created_at: str
    updated_at: str
    archived: bool = False
    archived_at: str | None = None

    @property
    def email(self) -> str | None:
        return self.props.get("email") or None

    def properties(self) -> dict[str, str]:
        """Every current property, system ones included."""
        return {
            **self.props,
            "hs_object_id": str(self.id),
            "createdate": self.created_at,
            "lastmodifieddate": self.updated_at,
        }

    def as_hubspot(self, only: Iterable[str] | None = None, **extra: Any) -> dict[str, Any]:
        """A ``SimplePublicObject``: all properties, or ``only`` those (null when unset)."""
        current = self.properties()
        if only is not None:
            current = {name: current.get(name) for name in (*only, *SYSTEM_PROPERTIES)}
        body = {
            "id": str(self.id),
            "properties": current,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
            **extra,
        }
        if self.archived_at:
            body["archivedAt"] = self.archived_at
        return body


@dataclass
class Write:
    """One accepted input of upsert/update/create, before it is applied."""

    index: int
    trace: str | None
    sent_id: str | None
    props: dict[str, str]
    target: int | None = None
    #: The unique value (name, value) that creates the contact when upserting a new one.
    key: tuple[str, str] | None = None


class HubSpotServer(SandboxServer):
    """HubSpot's CRM contacts, properties and Lists v3 endpoints over a SQLite file.

    ``rate_limit=None`` / ``daily_limit=None`` switch the limits off (their headers are then
    omitted); ``lock_after=0`` switches 423 off; ``latency`` delays every answer (see
    :class:`~sandbox.servers.latency.Latency`). ``clock`` drives the rate window and the locks,
    so tests can move time instead of sleeping. Scripted faults (``server.script(BATCH_PATH,
    [429, 200])``) answer with HubSpot's bodies, 477 with ``Retry-After``.
    """

    def __init__(
        self,
        state_path: Path | None = None,
        *,
        token: str = SANDBOX_HUBSPOT_TOKEN,
        rate_limit: int | None = 190,
        rate_interval: float = 10.0,
        daily_limit: int | None = 1_000_000,
        lock_after: int = 2,
        lock_seconds: float = 2.0,
        latency: Latency | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.latency = latency
        self.state_path = Path(state_path) if state_path is not None else None
        self.token = token
        self.rate_interval = rate_interval
        self.daily_limit = daily_limit
        self.lock_after = lock_after
        self.lock_seconds = lock_seconds
        self._clock = clock
        self._window = SlidingWindowLimit(rate_limit, rate_interval, clock) if rate_limit else None
        self._daily_lock = threading.Lock()
        self._daily_used = 0
        self._day = int(clock() // 86_400)
        self._db_lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._properties: dict[str, dict[str, Any]] = {}
        self._recent_writes: dict[int, list[float]] = {}
        self._prune_at = 10_000
        self._writes: Counter[int] = Counter()
        self._write_requests = 0
        self._db()

    def __repr__(self) -> str:
        where = str(self.state_path) if self.state_path else ":memory:"
        return f"HubSpotServer(state_path={where!r})"

    # -- lifecycle and storage ----------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving; a file-backed state is closed (and reopened on the next use)."""
        super().stop()
        if self.state_path is not None:
            self.close()

    def close(self) -> None:
        """Close the SQLite connection (an in-memory state is lost)."""
        with self._db_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _db(self) -> sqlite3.Connection:
        """The connection, opened (and the schema and default properties created) on first use."""
        with self._db_lock:
            if self._conn is None:
                self._conn = self._connect()
            return self._conn

    def _connect(self) -> sqlite3.Connection:
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
        target = str(self.state_path) if self.state_path is not None else ":memory:"
        conn = sqlite3.connect(target, check_same_thread=False)
        if self.state_path is not None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        with conn:
            conn.executescript(_SCHEMA)
            created = now_iso()
            conn.executemany(
                "INSERT OR IGNORE INTO properties (name, definition) VALUES (?, ?)",
                [
                    (
                        spec["name"],
                        json.dumps(
                            property_definition(spec, hubspot_defined=True, created_at=created)
                        ),
                    )
                    for spec in default_properties()
                ],
            )
        self._properties = {
            name: json.loads(text)
            for name, text in conn.execute("SELECT name, definition FROM properties")
        }
        return conn

    def _next_ids(self, conn: sqlite3.Connection, key: str, first: int, count: int) -> list[int]:
        """Allocate ``count`` new ids (never reused); call inside the write transaction."""
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        start = row[0] if row else first
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, start + count))
        return list(range(start, start + count))

    def _load(self, ids: Iterable[int]) -> dict[int, Contact]:
        """The stored contacts (archived ones too) among ``ids``."""
        wanted = sorted(set(ids))
        found: dict[int, Contact] = {}
        conn = self._db()
        for chunk in _chunks(wanted):
            rows = conn.execute(
                "SELECT id, props, created_at, updated_at, archived, archived_at FROM contacts "
                f"WHERE id IN ({_marks(len(chunk))})",
                chunk,
            )
            for row in rows:
                found[row[0]] = Contact(
                    row[0], json.loads(row[1]), row[2], row[3], bool(row[4]), row[5]
                )
        return found

    def _owners(self, name: str, values: Iterable[str]) -> dict[str, int]:
        """Which live contact holds each value of unique property ``name``."""
        wanted = sorted(set(values))
        owners: dict[str, int] = {}
        conn = self._db()
        for chunk in _chunks(wanted):
            rows = conn.execute(
                "SELECT value, contact_id FROM unique_values "
                f"WHERE name = ? AND value IN ({_marks(len(chunk))})",
                [name, *chunk],
            )
            owners.update(dict(rows))
        return owners

    def _unique_names(self) -> set[str]:
        return {"email"} | {
            name for name, spec in self._properties.items() if spec.get("hasUniqueValue")
        }

    # -- inspection helpers for tests ---------------------------------------------------------

    def contacts(self, include_archived: bool = False) -> list[dict[str, Any]]:
        """Every contact as ``{id, email, properties, created_at, updated_at, archived}``."""
        with self._db_lock:
            query = "SELECT id FROM contacts" + ("" if include_archived else " WHERE archived = 0")
            ids = [row[0] for row in self._db().execute(query + " ORDER BY id")]
            loaded = self._load(ids)
        return [_describe(loaded[contact_id]) for contact_id in ids]

    def contact(self, email: str) -> dict[str, Any] | None:
        """The live contact with ``email`` (case-insensitive), or None."""
        with self._db_lock:
            owner = self._owners("email", [email.lower()]).get(email.lower())
            if owner is None:
                return None
            return _describe(self._load([owner])[owner])

    def lists(self) -> dict[str, str]:
        """Every (undeleted) list: ``{name: listId}``."""
        with self._db_lock:
            rows = self._db().execute(
                "SELECT name, list_id FROM lists WHERE deleted_at IS NULL ORDER BY list_id"
            )
            return {name: str(list_id) for name, list_id in rows}

    def list_members(self, list_name: str) -> set[str]:
        """The emails of a list's members (KeyError for an unknown list)."""
        list_id = self.lists()[list_name]
        with self._db_lock:
            rows = self._db().execute(
                "SELECT c.email FROM memberships m JOIN contacts c ON c.id = m.contact_id "
                "WHERE m.list_id = ?",
                (int(list_id),),
            )
            return {email for (email,) in rows if email}

    def property(self, name: str) -> dict[str, Any] | None:
        """A contact property's definition (``ModelProperty`` shape), or None."""
        with self._db_lock:
            self._db()
            spec = self._properties.get(name)
            return dict(spec) if spec is not None else None

    def set_property_options(self, name: str, values: Sequence[str]) -> None:
        """Make ``name`` an enumeration (``select``) with these option values, as an admin would
        in HubSpot's UI; later writes of other values fail with INVALID_OPTION."""
        with self._db_lock:
            self._db()
            spec = self._properties.get(name)
            if spec is None:
                raise KeyError(f"no contact property {name!r}")
            updated = {
                **spec,
                "type": "enumeration",
                "fieldType": spec["fieldType"] if spec["type"] == "enumeration" else "select",
                "options": [
                    {"label": v, "value": v, "displayOrder": n, "hidden": False, "description": ""}
                    for n, v in enumerate(values)
                ],
                "updatedAt": now_iso(),
            }
            with self._db() as conn:
                conn.execute(
                    "UPDATE properties SET definition = ? WHERE name = ?",
                    (json.dumps(updated), name),
                )
            self._properties[name] = updated

    def writes(self, email: str) -> int:
        """How many write requests changed the contact with ``email`` (the live one, else the
        latest archived one); 0 if there is none. Counts since this server object was made."""
        with self._db_lock:
            row = (
                self._db()
                .execute(
                    "SELECT id FROM contacts WHERE email = ? ORDER BY archived, id DESC LIMIT 1",
                    (email.lower(),),
                )
                .fetchone()
            )
            return self._writes[row[0]] if row else 0

    def write_requests(self) -> int:
        """How many write requests (upsert/update/create/archive) succeeded (2xx)."""
        with self._db_lock:
            return self._write_requests

    # -- request handling ---------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if not self._authorized(request):
            response = hubspot_error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        else:
            response = self._admit() or self._route(request)
        response.headers.update(self.rate_limit_headers())
        return response

    def _route(self, request: Request) -> Response:
        parts = [unquote(part) for part in request.path.strip("/").split("/")]
        try:
            with self._db_lock:
                return self._dispatch_route(request, parts)
        except HubSpotError as error:
            return error.response()
        except Exception:  # a sandbox bug must look like a HubSpot 500, not a hang
            log.exception("sandbox handler failed for %s %s", request.method, request.path)
            return hubspot_error(500, "INTERNAL_ERROR", "sandbox: internal error")

    def scripted_response(self, status: int | str, request: Request) -> Response:
        """HubSpot-shaped bodies for scripted faults: 429 (TEN_SECONDLY_ROLLING), ``"daily"``
        (429 with policyName DAILY), 423, 477 (with ``Retry-After``), anything else as a
        HubSpot error with category INTERNAL_ERROR."""
        if status == "daily":
            response = Response.json(429, rate_limit_body("DAILY"))
        elif not isinstance(status, int):
            raise ValueError(f"HubSpotServer has no named fault {status!r} (only 'daily')")
        elif status == 429:
            response = Response.json(429, rate_limit_body("TEN_SECONDLY_ROLLING"))
        elif status == 423:
            response = hubspot_error(423, "LOCKED", "sandbox: scripted lock; retry after 2 s")
        elif status == 477:
            response = hubspot_error(
                477,
                "MIGRATION_IN_PROGRESS",
                "This account is being migrated to another data center; retry later.",
                headers={"Retry-After": MIGRATION_RETRY_AFTER},
            )
        else:
            response = hubspot_error(status, "INTERNAL_ERROR", f"sandbox: scripted HTTP {status}")
        response.headers.update(self.rate_limit_headers())
        return response

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() == self.token

    def rate_limit_headers(self) -> dict[str, str]:
        """The ``X-HubSpot-RateLimit-*`` headers for the current state of the limits."""
        headers: dict[str, str] = {}
        if self._window is not None:
            headers["X-HubSpot-RateLimit-Max"] = str(self._window.limit)
            headers["X-HubSpot-RateLimit-Remaining"] = str(self._window.remaining())
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(
                round(self.rate_interval * 1000)
            )
        if self.daily_limit is not None:
            with self._daily_lock:
                self._roll_day()
                left = max(0, self.daily_limit - self._daily_used)
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(left)
        return headers

    def _roll_day(self) -> None:
        day = int(self._clock() // 86_400)
        if day != self._day:
            self._day, self._daily_used = day, 0

    def _admit(self) -> Response | None:
        """Count the request against the limits, or answer 429 (not counted)."""
        with self._daily_lock:
            self._roll_day()
            if self.daily_limit is not None and self._daily_used >= self.daily_limit:
                return Response.json(429, rate_limit_body("DAILY"))
            if self._window is not None and self._window.hit() is not None:
                return Response.json(429, rate_limit_body("TEN_SECONDLY_ROLLING"))
            self._daily_used += 1
        return None

    def _dispatch_route(self, request: Request, parts: list[str]) -> Response:
        method = request.method
        if parts[:4] == ["crm", "v3", "objects", "contacts"]:
            rest = parts[4:]
            if len(rest) == 2 and rest[0] == "batch" and method == "POST":
                return self._batch(rest[1], _json_body(request))
            if not rest and method == "GET":
                return self._page(request)
            if len(rest) == 1 and method == "GET":
                return self._get_contact(rest[0], request)
        elif parts[:3] == ["crm", "v3", "properties"] and parts[3:4] in (["contacts"], ["0-1"]):
            rest = parts[4:]
            if not rest and method == "GET":
                return Response.json(200, {"results": list(self._properties.values())})
            if not rest and method == "POST":
                return self._create_property(_json_body(request))
            if len(rest) == 1 and method == "GET":
                return self._get_property(rest[0])
        elif parts[:3] == ["crm", "v3", "lists"]:
            return self._lists_route(method, parts[3:], request)
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"No route for {method} {request.path}")

    def _lists_route(self, method: str, rest: list[str], request: Request) -> Response:
        if not rest and method == "POST":
            return self._create_list(_json_body(request))
        if len(rest) == 4 and rest[0] == "object-type-id" and rest[2] == "name":
            if method == "GET":
                return self._get_list_by_name(rest[1], rest[3])
        if len(rest) == 1 and method == "GET":
            return Response.json(200, {"list": self._list_row(rest[0])})
        if len(rest) == 1 and method == "DELETE":
            return self._delete_list(rest[0])
        if len(rest) == 2 and rest[1] == "memberships" and method == "GET":
            return self._memberships_page(rest[0], request)
        if len(rest) == 3 and rest[1] == "memberships" and method == "PUT":
            return self._change_memberships(rest[0], rest[2], _json_body(request))
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"No route for {method} {request.path}")

    # -- contacts: batch endpoints --------------------------------------------------------------

    def _batch(self, action: str, body: Any) -> Response:
        if action not in (*WRITE_ACTIONS, "read"):
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unknown batch action {action!r}")
        inputs = _inputs(body)
        if action == "read":
            return self._batch_read(body, inputs)
        if action == "archive":
            response = self._batch_archive(inputs)
        else:
            response = self._batch_write(action, inputs)
        if 200 <= response.status < 300:
            self._write_requests += 1
        return response

    def _batch_read(self, body: dict[str, Any], inputs: list[dict[str, Any]]) -> Response:
        id_property = body.get("idProperty") or "hs_object_id"
        self._check_id_property(id_property)
        wanted = body.get("properties") or list(DEFAULT_READ_PROPERTIES)
        if id_property != "hs_object_id":
            wanted = [*wanted, id_property]
        sent = [_input_id(item) for item in inputs]
        resolved = self._resolve([(id_property, _key_value(id_property, v)) for v in sent])
        contacts = self._load(resolved.values())
        results, seen, missing = [], set(), []
        for value in sent:
            contact_id = resolved.get((id_property, _key_value(id_property, value)))
            if contact_id is None:
                missing.append(value)
            elif contact_id not in seen:
                seen.add(contact_id)
                results.append(contacts[contact_id].as_hubspot(list(dict.fromkeys(wanted))))
        errors = [_not_found(missing, [])] if missing else []
        return _batch_response(results[::-1], errors, ok_status=200)

    def _batch_write(self, action: str, inputs: list[dict[str, Any]]) -> Response:
        writes = [self._parse_write(action, index, item) for index, item in enumerate(inputs)]
        self._check_property_names(writes)
        self._check_emails(action, inputs, writes)
        self._resolve_writes(action, inputs, writes)
        self._check_locks({w.target for w in writes if w.target is not None})
        errors = self._record_errors(action, writes)
        failed = {index for error, indexes in errors for index in indexes}
        self._fail_whole_batch([e for e, _ in errors], writes)
        good = [w for w in writes if w.index not in failed]
        results = self._apply(good, new_flag=action == "upsert")
        ok_status = 201 if action == "create" else 200
        return _batch_response(results[::-1], [e for e, _ in errors], ok_status=ok_status)

    def _parse_write(self, action: str, index: int, item: dict[str, Any]) -> Write:
        raw_props = item.get("properties") or {}
        if not isinstance(raw_props, dict):
            raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: properties")
        props = {str(name): as_value(value) for name, value in raw_props.items()}
        if "email" in props:
            props["email"] = props["email"].strip().lower()
        trace = item.get("objectWriteTraceId")
        sent_id = None if action == "create" else _input_id(item)
        return Write(index, str(trace) if trace else None, sent_id, props)

    def _check_property_names(self, writes: list[Write]) -> None:
        """400 for the whole batch when a property does not exist or is read-only."""
        invalid: dict[str, Invalid] = {}
        for write in writes:
            for name in write.props:
                spec = self._properties.get(name)
                if spec is None:
                    invalid[name] = Invalid(
                        name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
                    )
                elif spec["modificationMetadata"]["readOnlyValue"]:
                    invalid[name] = Invalid(
                        name, "READ_ONLY_VALUE", f'Property "{name}" is a read only property'
                    )
        if invalid:
            items = list(invalid.values())
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                not_valid_message(items),
                errors=[item.detail() for item in items],
            )

    def _check_emails(self, action: str, inputs: list[dict[str, Any]], writes: list[Write]) -> None:
        """400 for the whole batch when any email (an id or a value) is invalid."""
        emails = [w.props["email"] for w in writes if w.props.get("email")]
        if action != "create":
            emails += [
                w.sent_id.strip()
                for w, item in zip(writes, inputs, strict=True)
                if _id_property(item) == "email" and w.sent_id
            ]
        invalid = [
            Invalid("email", "INVALID_EMAIL", f"Email address {email} is invalid")
            for email in dict.fromkeys(emails)
            if not is_valid_email(email)
        ]
        if invalid:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                not_valid_message(invalid),
                errors=[item.detail() for item in invalid],
            )

    def _check_id_property(self, id_property: str) -> None:
        if id_property != "hs_object_id" and id_property not in self._unique_names():
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"Unable to perform update/upsert by non-unique {CONTACT_OBJECT_TYPE} property "
                f"{id_property}",
            )

    def _resolve_writes(
        self, action: str, inputs: list[dict[str, Any]], writes: list[Write]
    ) -> None:
        """Set each write's target contact, or its creating key (upsert of a missing value)."""
        if action == "create":
            return
        keys: list[tuple[str, str]] = []
        for write, item in zip(writes, inputs, strict=True):
            id_property = _id_property(item)
            self._check_id_property(id_property)
            keys.append((id_property, _key_value(id_property, write.sent_id or "")))
        duplicates = [key[1] for key, n in Counter(keys).items() if n > 1]
        if duplicates:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"Duplicate IDs found in batch input: {json.dumps(duplicates)}. IDs must be unique",
            )
        resolved = self._resolve(keys)
        for write, key in zip(writes, keys, strict=True):
            write.target = resolved.get(key)
            if write.target is None and action == "upsert" and key[0] != "hs_object_id":
                write.key = key

    def _resolve(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Live contact ids for ``(idProperty, normalized value)`` keys that exist."""
        resolved: dict[tuple[str, str], int] = {}
        by_property: dict[str, list[str]] = {}
        for name, value in keys:
            by_property.setdefault(name, []).append(value)
        for name, values in by_property.items():
            if name == "hs_object_id":
                numeric = [int(value) for value in values if value.isdigit()]
                for contact in self._load(numeric).values():
                    if not contact.archived:
                        resolved[(name, str(contact.id))] = contact.id
            else:
                for value, contact_id in self._owners(name, values).items():
                    resolved[(name, value)] = contact_id
        return resolved

    def _check_locks(self, targets: set[int]) -> None:
        """423 when a record was written by ``lock_after`` requests in the last lock_seconds."""
        if self.lock_after <= 0 or not targets:
            return
        now = self._clock()
        locked = [
            str(contact_id)
            for contact_id in sorted(targets)
            if sum(now - t < self.lock_seconds for t in self._recent_writes.get(contact_id, ()))
            >= self.lock_after
        ]
        if locked:
            raise HubSpotError(
                423,
                "LOCKED",
                f"Records are locked after too many updates in a short period; locks last "
                f"{self.lock_seconds:g} seconds.",
                context={"ids": locked},
            )

    def _record_errors(
        self, action: str, writes: list[Write]
    ) -> list[tuple[RecordError, list[int]]]:
        """Per-record errors with the input indexes they reject: missing records (grouped, like
        HubSpot), invalid values and unique-value conflicts (one error per input)."""
        errors: list[tuple[RecordError, list[int]]] = []
        missing = [
            w
            for w in writes
            if action in ("update", "upsert") and w.target is None and w.key is None
        ]
        if missing:
            error = _not_found([w.sent_id or "" for w in missing], [w.trace for w in missing])
            errors.append((error, [w.index for w in missing]))
        absent = {w.index for w in missing}
        contacts = self._load(w.target for w in writes if w.target is not None)
        claims = self._claims(writes, contacts)
        for write in writes:
            if write.index in absent:
                continue
            if write.key is not None and write.key[0] not in write.props:
                write.props[write.key[0]] = write.key[1]
            error = self._value_error(write) or self._conflict(action, write, claims)
            if error is not None:
                errors.append((error, [write.index]))
        return errors

    def _claims(
        self, writes: list[Write], contacts: dict[int, Contact]
    ) -> dict[tuple[str, str], int]:
        """Current holders of every unique value the batch sets (live contacts only)."""
        unique = self._unique_names()
        wanted: dict[str, set[str]] = {}
        for write in writes:
            for name, value in write.props.items():
                if name in unique and value:
                    wanted.setdefault(name, set()).add(value)
            if write.key is not None:
                wanted.setdefault(write.key[0], set()).add(write.key[1])
        claims: dict[tuple[str, str], int] = {}
        for name, values in wanted.items():
            for value, owner in self._owners(name, values).items():
                claims[(name, value)] = owner
        return claims

    def _value_error(self, write: Write) -> RecordError | None:
        invalid = [
            problem
            for name, value in write.props.items()
            if (problem := check_value(self._properties[name], value)) is not None
        ]
        if not invalid:
            return None
        return RecordError("VALIDATION_ERROR", not_valid_message(invalid), _context(write), invalid)

    def _conflict(
        self, action: str, write: Write, claims: dict[tuple[str, str], int]
    ) -> RecordError | None:
        """A CONFLICT when the write would give a unique value to a second contact; otherwise
        claims the write's values (so later inputs of the batch see them taken)."""
        owner_key = write.target if write.target is not None else -(write.index + 1)
        unique = self._unique_names()
        taken = [
            (name, value, claims[(name, value)])
            for name, value in write.props.items()
            if name in unique and value and claims.get((name, value), owner_key) != owner_key
        ]
        if taken:
            name, value, owner = taken[0]
            shown = str(owner) if owner > 0 else "(created earlier in this batch)"
            message = (
                f"Contact already exists. Existing ID: {shown}"
                if name == "email"
                else f"A contact with {name}={value} already exists. Existing ID: {shown}"
            )
            return RecordError("CONFLICT", message, _context(write))
        for name, value in write.props.items():
            if name in unique and value:
                claims[(name, value)] = owner_key
        return None

    def _fail_whole_batch(self, errors: list[RecordError], writes: list[Write]) -> None:
        """Without a unique ``objectWriteTraceId`` on every input, value errors fail the whole
        batch (400) and conflicts too (409)."""
        per_record = [error for error in errors if error.needs_trace]
        if not per_record or _unique_traces(writes):
            return
        invalid = [item for error in per_record for item in error.invalid]
        if invalid:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                not_valid_message(invalid),
                errors=[item.detail() for item in invalid],
            )
        raise HubSpotError(409, "CONFLICT", per_record[0].message)

    def _apply(self, writes: list[Write], *, new_flag: bool) -> list[dict[str, Any]]:
        """Write the accepted inputs in one transaction; their results in input order."""
        conn = self._db()
        stamp = now_iso()
        unique = self._unique_names()
        contacts = self._load(w.target for w in writes if w.target is not None)
        created: dict[int, Contact] = {}
        results: list[tuple[Write, Contact, bool]] = []
        with conn:
            fresh = [w for w in writes if w.target is None]
            ids = iter(self._next_ids(conn, "next_contact_id", FIRST_CONTACT_ID, len(fresh)))
            drop: list[tuple[str, str]] = []
            for write in writes:
                if write.target is None:
                    contact = Contact(next(ids), {}, stamp, stamp)
                    created[contact.id] = contact
                else:
                    contact = contacts[write.target]
                for name, value in write.props.items():
                    old = contact.props.get(name)
                    if name in unique and old and old != value:
                        drop.append((name, old))
                    if value == "":
                        contact.props.pop(name, None)
                    else:
                        contact.props[name] = value
                contact.updated_at = stamp
                results.append((write, contact, contact.id in created))
            touched = {c.id: c for _, c, _ in results}
            conn.executemany("DELETE FROM unique_values WHERE name = ? AND value = ?", drop)
            conn.executemany(
                "INSERT OR REPLACE INTO contacts (id, email, props, created_at, updated_at, "
                "archived) VALUES (?, ?, ?, ?, ?, 0)",
                [
                    (c.id, c.email, json.dumps(c.props), c.created_at, c.updated_at)
                    for c in touched.values()
                ],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO unique_values (name, value, contact_id) VALUES (?, ?, ?)",
                [
                    (name, value, c.id)
                    for c in touched.values()
                    for name, value in c.props.items()
                    if name in unique
                ],
            )
        self._record_writes(touched)
        return [
            contact.as_hubspot(
                **({"new": is_new} if new_flag else {}),
                **({"objectWriteTraceId": write.trace} if write.trace else {}),
            )
            for write, contact, is_new in results
        ]

    def _record_writes(self, contact_ids: Iterable[int]) -> None:
        """Count a successful write request against each record (for locks and ``writes``)."""
        now = self._clock()
        keep = self.lock_after
        for contact_id in contact_ids:
            self._writes[contact_id] += 1
            if keep > 0:
                recent = self._recent_writes.setdefault(contact_id, [])
                recent.append(now)
                del recent[:-keep]
        if len(self._recent_writes) > self._prune_at:  # forget expired locks, amortised
            self._recent_writes = {
                contact_id: times
                for contact_id, times in self._recent_writes.items()
                if now - times[-1] < self.lock_seconds
            }
            self._prune_at = max(10_000, 2 * len(self._recent_writes))

    def _batch_archive(self, inputs: list[dict[str, Any]]) -> Response:
        sent = [_input_id(item) for item in inputs]
        live = {
            contact.id: contact
            for contact in self._load(int(v) for v in sent if v.isdigit()).values()
            if not contact.archived
        }
        self._check_locks(set(live))
        stamp = now_iso()
        unique = self._unique_names()
        conn = self._db()
        with conn:
            ids = [(contact_id,) for contact_id in live]
            conn.executemany(
                "UPDATE contacts SET archived = 1, archived_at = ?, updated_at = ? WHERE id = ?",
                [(stamp, stamp, contact_id) for contact_id in live],
            )
            conn.executemany(
                "DELETE FROM unique_values WHERE name = ? AND value = ? AND contact_id = ?",
                [
                    (name, value, contact.id)
                    for contact in live.values()
                    for name, value in contact.props.items()
                    if name in unique
                ],
            )
            conn.executemany("DELETE FROM memberships WHERE contact_id = ?", ids)
        self._record_writes(live)
        return Response(204)

    # -- contacts: single reads ---------------------------------------------------------------

    def _page(self, request: Request) -> Response:
        limit = min(max(_int_param(request, "limit", 10), 1), _MAX_PAGE)
        after = _int_param(request, "after", 0)
        archived = request.query.get("archived", "false").lower() == "true"
        rows = (
            self._db()
            .execute(
                "SELECT id FROM contacts WHERE archived = ? AND id > ? ORDER BY id LIMIT ?",
                (int(archived), after, limit + 1),
            )
            .fetchall()
        )
        ids = [row[0] for row in rows[:limit]]
        contacts = self._load(ids)
        only = _requested_properties(request)
        body: dict[str, Any] = {
            "results": [contacts[contact_id].as_hubspot(only) for contact_id in ids]
        }
        if len(rows) > limit:
            next_after = str(ids[-1])
            body["paging"] = {
                "next": {"after": next_after, "link": f"{CONTACTS_PATH}?after={next_after}"}
            }
        return Response.json(200, body)

    def _get_contact(self, sent_id: str, request: Request) -> Response:
        id_property = request.query.get("idProperty") or "hs_object_id"
        self._check_id_property(id_property)
        key = (id_property, _key_value(id_property, sent_id))
        contact_id = self._resolve([key]).get(key)
        if contact_id is None:
            raise HubSpotError(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [sent_id]},
            )
        return Response.json(
            200, self._load([contact_id])[contact_id].as_hubspot(_requested_properties(request))
        )

    # -- properties ---------------------------------------------------------------------------

    def _get_property(self, name: str) -> Response:
        spec = self._properties.get(name)
        if spec is None:
            raise HubSpotError(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property {name} for object type {CONTACT_OBJECT_TYPE}",
            )
        return Response.json(200, spec)

    def _create_property(self, body: Any) -> Response:
        spec = _property_spec(body)
        if spec["name"] in self._properties:
            raise HubSpotError(
                409,
                "OBJECT_ALREADY_EXISTS",
                f"A property named '{spec['name']}' already exists.",
                context={"name": [spec["name"]]},
            )
        definition = property_definition(spec, hubspot_defined=False, created_at=now_iso())
        with self._db() as conn:
            conn.execute(
                "INSERT INTO properties (name, definition) VALUES (?, ?)",
                (definition["name"], json.dumps(definition)),
            )
        self._properties[definition["name"]] = definition
        return Response.json(201, definition)

    # -- lists ----------------------------------------------------------------------------------

    def _create_list(self, body: Any) -> Response:
        if not isinstance(body, dict) or not body.get("name"):
            raise HubSpotError(400, "VALIDATION_ERROR", "name is required")
        name = str(body["name"])
        object_type = str(body.get("objectTypeId") or "")
        processing = str(body.get("processingType") or "")
        if object_type != CONTACT_OBJECT_TYPE:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"The sandbox only has contact lists (objectTypeId "
                f"{CONTACT_OBJECT_TYPE}), got {object_type!r}",
            )
        if processing not in PROCESSING_TYPES:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"processingType must be one of {sorted(PROCESSING_TYPES)}, got {processing!r}",
            )
        if self._find_list(name) is not None:
            raise HubSpotError(
                409, "CONFLICT", f"A list named '{name}' already exists.", context={"name": [name]}
            )
        stamp = now_iso()
        with self._db() as conn:
            (list_id,) = self._next_ids(conn, "next_list_id", FIRST_LIST_ID, 1)
            conn.execute(
                "INSERT INTO lists (list_id, name, object_type_id, processing_type, list_version,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
                (list_id, name, object_type, processing, stamp, stamp),
            )
        return Response.json(200, {"list": self._list_row(str(list_id))})

    def _find_list(self, name: str) -> int | None:
        row = (
            self._db()
            .execute("SELECT list_id FROM lists WHERE name = ? AND deleted_at IS NULL", (name,))
            .fetchone()
        )
        return row[0] if row else None

    def _get_list_by_name(self, object_type: str, name: str) -> Response:
        list_id = self._find_list(name) if object_type == CONTACT_OBJECT_TYPE else None
        if list_id is None:
            raise HubSpotError(
                404,
                "OBJECT_NOT_FOUND",
                f"List does not exist with name {name} and object type {object_type}.",
            )
        return Response.json(200, {"list": self._list_row(str(list_id))})

    def _list_row(self, sent_id: str) -> dict[str, Any]:
        """A ``PublicObjectList`` (404 for an unknown or deleted list)."""
        row = None
        if sent_id.isdigit():
            row = (
                self._db()
                .execute(
                    "SELECT list_id, name, object_type_id, processing_type, list_version, created_at,"
                    " updated_at, (SELECT COUNT(*) FROM memberships m WHERE m.list_id = l.list_id)"
                    " FROM lists l WHERE list_id = ? AND deleted_at IS NULL",
                    (int(sent_id),),
                )
                .fetchone()
            )
        if row is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"List does not exist with id {sent_id}.")
        list_id, name, object_type, processing, version, created, updated, size = row
        return {
            "listId": str(list_id),
            "name": name,
            "objectTypeId": object_type,
            "processingType": processing,
            "processingStatus": "COMPLETE",
            "listVersion": version,
            "size": size,
            "createdAt": created,
            "updatedAt": updated,
            "filtersUpdatedAt": created,
            "createdById": "1",
            "updatedById": "1",
        }

    def _delete_list(self, sent_id: str) -> Response:
        list_id = int(self._list_row(sent_id)["listId"])
        with self._db() as conn:
            conn.execute("UPDATE lists SET deleted_at = ? WHERE list_id = ?", (now_iso(), list_id))
            conn.execute("DELETE FROM memberships WHERE list_id = ?", (list_id,))
        return Response(204)

    def _change_memberships(self, sent_id: str, operation: str, body: Any) -> Response:
        listed = self._list_row(sent_id)
        if operation == "add":
            to_add, to_remove = _id_list(body), []
        elif operation == "remove":
            to_add, to_remove = [], _id_list(body)
        elif operation == "add-and-remove":
            if not isinstance(body, dict):
                raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON")
            to_add = _id_list(body.get("recordIdsToAdd") or [])
            to_remove = _id_list(body.get("recordIdsToRemove") or [])
        else:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unknown memberships action {operation}")
        if listed["processingType"] not in EDITABLE_LIST_TYPES:
            raise HubSpotError(
                400,
                "VALIDATION_ERROR",
                f"List {sent_id} is a {listed['processingType']} list; memberships can only be "
                "changed on MANUAL or SNAPSHOT lists.",
            )
        return Response.json(200, self._apply_memberships(int(sent_id), to_add, to_remove))

    def _apply_memberships(
        self, list_id: int, to_add: list[str], to_remove: list[str]
    ) -> dict[str, list[str]]:
        """Add and remove records by id; missing/archived ids and no-ops are ignored."""
        wanted = [int(v) for v in (*to_add, *to_remove) if v.isdigit()]
        live = {c.id for c in self._load(wanted).values() if not c.archived}
        members = self._members_among(list_id, live)
        missing = [v for v in dict.fromkeys((*to_add, *to_remove)) if not _is_live(v, live)]
        added = [v for v in dict.fromkeys(to_add) if _is_live(v, live) and int(v) not in members]
        removed = [v for v in dict.fromkeys(to_remove) if _is_live(v, live) and int(v) in members]
        stamp = now_iso()
        with self._db() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO memberships (list_id, contact_id, added_at) VALUES (?, ?, ?)",
                [(list_id, int(v), stamp) for v in added],
            )
            conn.executemany(
                "DELETE FROM memberships WHERE list_id = ? AND contact_id = ?",
                [(list_id, int(v)) for v in removed],
            )
            if added or removed:
                conn.execute(
                    "UPDATE lists SET list_version = list_version + 1, updated_at = ? "
                    "WHERE list_id = ?",
                    (stamp, list_id),
                )
        return {"recordIdsMissing": missing, "recordIdsRemoved": removed, "recordsIdsAdded": added}

    def _members_among(self, list_id: int, ids: set[int]) -> set[int]:
        members: set[int] = set()
        for chunk in _chunks(sorted(ids)):
            rows = self._db().execute(
                "SELECT contact_id FROM memberships "
                f"WHERE list_id = ? AND contact_id IN ({_marks(len(chunk))})",
                [list_id, *chunk],
            )
            members.update(row[0] for row in rows)
        return members

    def _memberships_page(self, sent_id: str, request: Request) -> Response:
        listed = self._list_row(sent_id)
        limit = min(max(_int_param(request, "limit", 100), 1), _MAX_MEMBERSHIP_PAGE)
        after = _int_param(request, "after", 0)
        rows = (
            self._db()
            .execute(
                "SELECT contact_id, added_at FROM memberships WHERE list_id = ? AND contact_id > ? "
                "ORDER BY contact_id LIMIT ?",
                (int(sent_id), after, limit + 1),
            )
            .fetchall()
        )
        body: dict[str, Any] = {
            "results": [
                {"recordId": str(contact_id), "membershipTimestamp": added}
                for contact_id, added in rows[:limit]
            ],
            "total": listed["size"],
        }
        if len(rows) > limit:
            body["paging"] = {"next": {"after": str(rows[limit - 1][0])}}
        return Response.json(200, body)


# ------------------------------------------------------------------------------ helpers


def _json_body(request: Request) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise HubSpotError(400, "VALIDATION_ERROR", f"Invalid input JSON: {exc}") from exc


def _inputs(body: Any) -> list[dict[str, Any]]:
    """The ``inputs`` of a batch body: a list of objects, at most :data:`MAX_BATCH`."""
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
        raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: inputs is required")
    if len(inputs) > MAX_BATCH:
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"Batch input limit exceeded: {len(inputs)} inputs given, the limit is {MAX_BATCH}.",
            context={"limit": [str(MAX_BATCH)], "given": [str(len(inputs))]},
        )
    return inputs


def _input_id(item: dict[str, Any]) -> str:
    value = item.get("id")
    if value is None or value == "":
        raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: every input needs an id")
    return str(value)


def _id_property(item: dict[str, Any]) -> str:
    return str(item.get("idProperty") or "hs_object_id")


def _key_value(id_property: str, value: str) -> str:
    """How an id is matched: emails case-insensitively, the rest as sent."""
    return value.strip().lower() if id_property == "email" else value.strip()


def _context(write: Write) -> dict[str, list[str]]:
    context: dict[str, list[str]] = {}
    if write.sent_id is not None:
        context["ids"] = [write.sent_id]
    if write.trace is not None:
        context["objectWriteTraceId"] = [write.trace]
    return context


def _not_found(ids: list[str], traces: list[str | None]) -> RecordError:
    context = {"ids": ids}
    if any(traces):
        context["objectWriteTraceId"] = [t for t in traces if t]
    return RecordError(
        "OBJECT_NOT_FOUND",
        "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids "
        "are valid.",
        context,
        needs_trace=False,
    )


def _unique_traces(writes: list[Write]) -> bool:
    traces = [w.trace for w in writes]
    return all(traces) and len(set(traces)) == len(traces)


def _batch_response(
    results: list[dict[str, Any]], errors: list[RecordError], *, ok_status: int
) -> Response:
    stamp = now_iso()
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "requestedAt": stamp,
        "startedAt": stamp,
        "completedAt": now_iso(),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = [error.as_hubspot() for error in errors]
        return Response.json(207, body)
    return Response.json(ok_status, body)


def _requested_properties(request: Request) -> list[str]:
    names = [
        name for value in request.query_values("properties") for name in value.split(",") if name
    ]
    return names or list(DEFAULT_READ_PROPERTIES)


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise HubSpotError(400, "VALIDATION_ERROR", f"{name} must be an integer") from exc


def _id_list(body: Any) -> list[str]:
    if not isinstance(body, list) or not all(isinstance(v, str | int) for v in body):
        raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON: expected a list of ids")
    return [str(v) for v in body]


def _is_live(value: str, live: set[int]) -> bool:
    return value.isdigit() and int(value) in live


def _property_spec(body: Any) -> dict[str, Any]:
    """Validate a ``PropertyCreate`` body (400 on a missing field or an unknown group)."""
    if not isinstance(body, dict):
        raise HubSpotError(400, "VALIDATION_ERROR", "Invalid input JSON")
    missing = [
        key for key in ("name", "label", "type", "fieldType", "groupName") if not body.get(key)
    ]
    if missing:
        raise HubSpotError(
            400,
            "VALIDATION_ERROR",
            f"Missing required fields: {', '.join(missing)} (both type "
            "and fieldType values are required)",
        )
    if not _PROPERTY_NAME.match(str(body["name"])):
        raise HubSpotError(400, "VALIDATION_ERROR", f"Invalid property name {body['name']!r}")
    if body["type"] not in PROPERTY_TYPES or body["fieldType"] not in FIELD_TYPES:
        raise HubSpotError(
            400, "VALIDATION_ERROR", f"Invalid type/fieldType {body['type']}/{body['fieldType']}"
        )
    if body["groupName"] not in PROPERTY_GROUPS:
        raise HubSpotError(
            400, "VALIDATION_ERROR", f"Property group {body['groupName']} does not exist."
        )
    options = body.get("options") or []
    if body["type"] == "enumeration" and not options:
        raise HubSpotError(400, "VALIDATION_ERROR", "Enumeration properties need options")
    if not all(isinstance(o, dict) and o.get("value") not in (None, "") for o in options):
        raise HubSpotError(400, "VALIDATION_ERROR", "Every option needs a value")
    return {**body, "readOnly": False}


def _describe(contact: Contact) -> dict[str, Any]:
    """A contact for the inspection helpers."""
    return {
        "id": str(contact.id),
        "email": contact.email,
        "properties": contact.properties(),
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
        "archived": contact.archived,
    }
