"""A local Braze: ``POST /users/track`` over user profiles kept in memory.

It follows docs/braze.md (Braze's own pages, checked for this project):

* ``Authorization: Bearer <key>``; a missing or unknown key answers 401.
* Limits: at most ``max_objects`` (75) objects per request, attributes, events and purchases
  counted together (the stricter of Braze's readings), else 400 "Max Input Length Exceeded"; a
  fixed window of ``rate_limit`` requests per ``rate_interval`` seconds (3,000 per 3 s), else
  429; every answer carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (the window's
  end in UTC epoch seconds).
* Answers: 201 ``{"message": "success", "attributes_processed": n}``, with ``"errors": [{"type",
  "input_array", "index"}]`` for objects refused one by one (no identifier, an invalid email, a
  name or string value over 255 characters); when no object is valid, 400 with the same errors.
  A refused object is not applied at all.
* Profiles are found by ``external_id``, or by ``email`` (the most recently updated profile with
  that address, one with an external id first); ``_update_existing_only: true`` never creates
  one. Array attributes take ``{"add": [...]}`` / ``{"remove": [...]}``; an added value moves to
  the end, and an array longer than ``max_array`` (25, Braze's default) loses its oldest values.
* Faults: ``server.script(TRACK, [429, 500, 200])`` answers the next requests with those
  statuses (429 with the rate-limit headers of a full window); ``latency`` delays every answer.

``state_path``: the profiles are loaded from that JSON file when the server is made and saved to
it when it stops, so ``recur sandbox`` keeps them across restarts.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sandbox.servers.base import Request, Response, SandboxServer
from sandbox.servers.latency import Latency

#: The REST API key the sandbox accepts unless told otherwise (``recur sandbox`` prints it).
SANDBOX_BRAZE_API_KEY = "sandbox-braze-rest-api-key"

TRACK = "/users/track"
ARRAYS = ("attributes", "events", "purchases")
MAX_OBJECTS = 75
MAX_LENGTH = 255
MAX_ARRAY = 25
IDENTIFIERS = ("external_id", "braze_id", "user_alias", "email", "phone")
#: Keys of an attribute object that are not stored as attributes.
CONTROL_KEYS = frozenset({"external_id", "braze_id", "user_alias", "_update_existing_only"})
#: A plain address check of the sandbox's own (Braze does not publish its rule): one @, no
#: spaces, a dot in the domain, nothing empty around them.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
NO_VALID_DATA = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."


class BrazeServer(SandboxServer):
    """Braze's ``/users/track`` for attribute objects (events and purchases are counted toward
    the limits and otherwise ignored).

    ``rate_limit=None`` switches the rate limit off (its headers are then omitted). ``clock``
    (monotonic) drives the window and ``wall`` (epoch seconds) the ``X-RateLimit-Reset`` header,
    so tests can move time instead of sleeping."""

    def __init__(
        self,
        state_path: Path | None = None,
        *,
        api_key: str = SANDBOX_BRAZE_API_KEY,
        rate_limit: int | None = 3000,
        rate_interval: float = 3.0,
        max_objects: int = MAX_OBJECTS,
        max_array: int = MAX_ARRAY,
        latency: Latency | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.latency = latency
        self.state_path = Path(state_path) if state_path is not None else None
        self.api_key = api_key
        self.rate_limit = rate_limit
        self.rate_interval = rate_interval
        self.max_objects = max_objects
        self.max_array = max_array
        self._clock = clock
        self._wall = wall
        self._users_lock = threading.RLock()
        self._users: dict[str, dict[str, Any]] = {}  # braze_id -> profile
        self._by_external: dict[str, str] = {}
        self._next_id = 1
        self._updates = 0
        self._window = (0, 0)  # (window number, requests counted in it)
        self._window_lock = threading.Lock()
        #: Per identifier (external id or lower-cased email): objects applied to its profile.
        self.applied: Counter[str] = Counter()
        #: Every identifier named by an attribute object, applied or not.
        self.seen: set[str] = set()
        #: ``(epoch seconds, status, X-RateLimit-Reset)`` of every /users/track answer.
        self.answers: list[tuple[float, int, float | None]] = []
        self._load()

    def __repr__(self) -> str:
        return f"BrazeServer(state_path={str(self.state_path) if self.state_path else None!r})"

    # -- state ----------------------------------------------------------------------------------

    def _load(self) -> None:
        if self.state_path is None or not self.state_path.exists():
            return
        saved = json.loads(self.state_path.read_text())
        self._users = saved.get("users", {})
        self._next_id = int(saved.get("next_id", len(self._users) + 1))
        self._updates = max((int(p.get("updated", 0)) for p in self._users.values()), default=0)
        self._by_external = {
            p["external_id"]: braze_id
            for braze_id, p in self._users.items()
            if p.get("external_id") is not None
        }

    def save(self) -> None:
        """Write the profiles to ``state_path`` (through a temporary file, renamed over it)."""
        if self.state_path is None:
            return
        with self._users_lock:
            text = json.dumps({"users": self._users, "next_id": self._next_id})
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(self.state_path)

    def stop(self) -> None:
        """Stop serving and save the profiles (when there is a ``state_path``)."""
        super().stop()
        self.save()

    # -- what tests and the demo read -----------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        """Every profile: ``braze_id``, ``external_id``, ``email`` and the custom attributes."""
        with self._users_lock:
            return [json.loads(json.dumps(p)) for p in self._users.values()]

    def user(self, identifier: str) -> dict[str, Any] | None:
        """The profile with this external id, else the one :meth:`track` would pick for this
        email; None if there is none."""
        with self._users_lock:
            braze_id = self._by_external.get(identifier) or self._by_email(identifier)
            return json.loads(json.dumps(self._users[braze_id])) if braze_id else None

    def members(self, audience: str, attribute: str = "recur_audiences") -> set[str]:
        """The identifiers (external id, else email) of profiles whose ``attribute`` array holds
        ``audience``."""
        with self._users_lock:
            return {
                p.get("external_id") or p.get("email")
                for p in self._users.values()
                if audience in (p.get("attributes", {}).get(attribute) or [])
            }

    def track_requests(self) -> int:
        """How many /users/track requests were answered, whatever the answer."""
        return len(self.calls(TRACK))

    # -- limits ---------------------------------------------------------------------------------

    def _admit(self) -> tuple[bool, dict[str, str]]:
        """Count a request in the current fixed window; returns whether it fits, and the
        rate-limit headers to answer with."""
        if self.rate_limit is None:
            return True, {}
        with self._window_lock:
            now = self._clock()
            number = math.floor(now / self.rate_interval)
            current, used = self._window
            if number != current:
                current, used = number, 0
            admitted = used < self.rate_limit
            used += int(admitted)
            self._window = (current, used)
            ends_in = (number + 1) * self.rate_interval - now
        return admitted, self._headers(self.rate_limit - used, ends_in)

    def _headers(self, remaining: int, ends_in: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, remaining)),
            # Epoch seconds, rounded up: a client that waits for it never comes back too early.
            "X-RateLimit-Reset": str(math.ceil(self._wall() + ends_in)),
        }

    # -- requests -------------------------------------------------------------------------------

    def _log_answer(self, response: Response) -> Response:
        reset = response.headers.get("X-RateLimit-Reset")
        self.answers.append((self._wall(), response.status, float(reset) if reset else None))
        return response

    def scripted_response(self, status: int | str, request: Request) -> Response:
        """Braze-shaped answers for scripted faults; a 429 says the window is used up."""
        if not isinstance(status, int):
            raise ValueError(f"BrazeServer has no named fault {status!r}")
        if status == 429:
            headers = {}
            if self.rate_limit is not None:
                now = self._clock()
                ends_in = (math.floor(now / self.rate_interval) + 1) * self.rate_interval - now
                headers = self._headers(0, ends_in)
            return self._log_answer(Response.json(429, {"message": "Rate Limit Exceeded"}, headers))
        messages = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
        message = messages.get(status, "Internal Server Error" if status >= 500 else "Error")
        return self._log_answer(Response.json(status, {"message": message}))

    def handle(self, request: Request) -> Response:
        if request.path != TRACK or request.method != "POST":
            return Response.json(404, {"message": f"No route for {request.method} {request.path}"})
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or key.strip() != self.api_key:
            return self._log_answer(Response.json(401, {"message": "Invalid API Key"}))
        admitted, headers = self._admit()
        if not admitted:
            return self._log_answer(Response.json(429, {"message": "Rate Limit Exceeded"}, headers))
        response = self._track(request)
        response.headers.update(headers)
        return self._log_answer(response)

    def _track(self, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return Response.json(400, {"message": "Bad Request: the body is not JSON"})
        if not isinstance(body, dict) or not any(isinstance(body.get(a), list) for a in ARRAYS):
            return Response.json(400, {"message": NO_VALID_DATA})
        if any(name in body and not isinstance(body[name], list) for name in ARRAYS):
            return Response.json(400, {"message": "Bad Request: arrays expected"})
        total = sum(len(body.get(name) or []) for name in ARRAYS)
        if total > self.max_objects:
            return Response.json(
                400,
                {
                    "message": "Max Input Length Exceeded",
                    "errors": [
                        f"{total} objects in one request; at most {self.max_objects} "
                        "attributes, events and purchases together"
                    ],
                },
            )
        attributes = body.get("attributes") or []
        errors = []
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(attributes):
            problem = self._check(item)
            if problem:
                errors.append({"type": problem, "input_array": "attributes", "index": index})
            else:
                valid.append((index, item))
        others = sum(len(body.get(name) or []) for name in ("events", "purchases"))
        if not valid and not others:
            return Response.json(400, {"message": NO_VALID_DATA, "errors": errors})
        with self._users_lock:
            for _, item in valid:
                self._apply(item)
        answer: dict[str, Any] = {"message": "success"}
        if attributes:
            answer["attributes_processed"] = len(valid)
        if errors:
            answer["errors"] = errors
        return Response.json(201, answer)

    def _check(self, item: Any) -> str | None:
        """Why one attribute object is refused (a minor error), or None."""
        if not isinstance(item, dict):
            return "attribute object is not a JSON object"
        named = [name for name in IDENTIFIERS if item.get(name) not in (None, "")]
        if not named:
            return "user identifier (external_id, user_alias, braze_id, email or phone) required"
        for name in ("external_id", "email"):
            if name in named:
                self.seen.add(_identity(name, item[name]))
        email = item.get("email")
        if email not in (None, "") and not (isinstance(email, str) and _EMAIL.fullmatch(email)):
            return f"'email' is not valid: {str(email)[:80]!r}"
        for name, value in item.items():
            if len(name) > MAX_LENGTH:
                return f"attribute name '{name[:40]}...' is longer than {MAX_LENGTH} characters"
            if isinstance(value, str) and len(value) > MAX_LENGTH:
                return f"value of '{name}' is longer than {MAX_LENGTH} characters"
            if isinstance(value, dict) and set(value) <= {"add", "remove"}:
                values = [v for vs in value.values() for v in (vs or [])]
                if any(not isinstance(v, str) or len(v) > MAX_LENGTH for v in values):
                    return f"array values of '{name}' must be strings of at most {MAX_LENGTH}"
        return None

    def _by_email(self, email: str) -> str | None:
        """The profile an email identifies: the most recently updated one with an external id,
        else the most recently updated one (post_user_track, "Frequently asked questions")."""
        email = email.lower()
        found = [(bid, p) for bid, p in self._users.items() if (p.get("email") or "") == email]
        if not found:
            return None
        found.sort(key=lambda item: (item[1].get("external_id") is not None, item[1]["updated"]))
        return found[-1][0]

    def _apply(self, item: dict[str, Any]) -> None:
        """Create or update the profile ``item`` names (``_users_lock`` held)."""
        external_id = item.get("external_id")
        if external_id not in (None, ""):
            identity = _identity("external_id", external_id)
            braze_id = self._by_external.get(str(external_id))
        else:
            identity = _identity("email", item.get("email"))
            braze_id = self._by_email(str(item.get("email") or ""))
        if braze_id is None:
            if item.get("_update_existing_only") is True:
                return  # Braze answers success and creates nothing
            braze_id = f"braze-{self._next_id:08d}"
            self._next_id += 1
            self._users[braze_id] = {
                "braze_id": braze_id,
                "external_id": str(external_id) if external_id not in (None, "") else None,
                "email": None,
                "attributes": {},
                "updated": 0,
            }
            if external_id not in (None, ""):
                self._by_external[str(external_id)] = braze_id
        profile = self._users[braze_id]
        for name, value in item.items():
            if name in CONTROL_KEYS:
                continue
            if name == "email":
                profile["email"] = str(value).lower() if value else None
            elif isinstance(value, dict) and value and set(value) <= {"add", "remove"}:
                profile["attributes"][name] = self._change_array(
                    profile["attributes"].get(name), value.get("add"), value.get("remove")
                )
            elif value is None:
                profile["attributes"].pop(name, None)
            else:
                profile["attributes"][name] = value
        profile["updated"] = self._next_update()
        self.applied[identity] += 1

    def _next_update(self) -> int:
        self._updates += 1
        return self._updates

    def _change_array(
        self, current: Any, add: Iterable[str] | None, remove: Iterable[str] | None
    ) -> list[str]:
        values = [v for v in (current if isinstance(current, list) else [])]
        for value in add or []:
            if value in values:
                values.remove(value)
            values.append(value)  # an added value moves to the end
        values = [v for v in values if v not in set(remove or [])]
        return values[-self.max_array :]  # too long: the oldest values go


def _identity(name: str, value: Any) -> str:
    """How tests name a profile: its external id, or its email in lower case."""
    return str(value).lower() if name == "email" else str(value)
