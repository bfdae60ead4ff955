"""A local Mixpanel: the Raw Event Export and Engage APIs, served from an export folder.

It follows reference/formats.md §1 and §3 closely enough that the real client code path runs
unchanged against it (only the base URLs differ):

* ``GET /api/2.0/export?from_date=&to_date=&project_id=``: HTTP Basic auth (service account +
  ``project_id``, or a legacy project secret as the username); both dates inclusive; 400
  ``to_date cannot be later than today`` past the configured "today"; a ``text/plain`` body of
  the day files' lines in order, gzip-encoded when asked and larger than 1,400 bytes; 3
  queries/second and an hourly budget (default 60), else 429.
* ``POST /api/query/engage?project_id=``: form body, pages of ``page_size`` profiles re-chunked
  from ``mixpanel/profiles/page-*.json``; a ``session_id`` is issued on page 0 and required
  for ``page > 0`` (400 otherwise); hourly budget (default 60).

Filters (``event``, ``where``, ``limit``, ``distinct_ids``, ``output_properties``) are accepted
and ignored: the sandbox always serves whole days and all profiles.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sandbox.servers.base import (
    AbortConnection,
    Request,
    Response,
    SandboxServer,
    SlidingWindowLimit,
    maybe_gzip,
)

#: Credentials the sandbox accepts unless told otherwise (``recur sandbox`` prints them).
SANDBOX_USERNAME = "sandbox-service-account"
SANDBOX_SECRET = "sandbox-secret"
SANDBOX_PROJECT_ID = "1"

EXPORT_PATH = "/api/2.0/export"
ENGAGE_PATH = "/api/query/engage"

#: Day-file suffixes, as the loader accepts them (sources/layout.py).
DAY_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

_CHUNK = 1 << 16
_MAX_SESSIONS = 64


class MixpanelServer(SandboxServer):
    """Mixpanel's export and engage endpoints over ``exports_dir/mixpanel``.

    ``today`` fixes the server's notion of today (default: the real UTC date). Pass
    ``max_per_second=None`` / ``max_per_hour=None`` to switch a rate limit off (tests that are
    not about rate limits). ``terminate_early(n)`` makes the next ``n`` export responses end with
    the ``terminated early`` line.
    """

    def __init__(
        self,
        exports_dir: Path,
        *,
        username: str = SANDBOX_USERNAME,
        secret: str = SANDBOX_SECRET,
        project_id: int | str = SANDBOX_PROJECT_ID,
        project_secret: str | None = None,
        today: date | None = None,
        max_per_second: int | None = 3,
        max_per_hour: int | None = 60,
        page_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.exports_dir = Path(exports_dir)
        self.username = username
        self.secret = secret
        self.project_id = str(project_id)
        self.project_secret = project_secret
        self.today = today
        self.page_size = page_size
        self._export_limits = _limits(max_per_second, max_per_hour, clock)
        self._engage_limits = _limits(None, max_per_hour, clock)
        self._terminate_next = 0
        self._cut_next = 0
        self._sessions: OrderedDict[str, list[Any]] = OrderedDict()
        self._state_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"MixpanelServer(exports_dir={str(self.exports_dir)!r}, project_id={self.project_id!r})"
        )

    def terminate_early(self, responses: int = 1) -> None:
        """End the next ``responses`` successful export bodies with ``terminated early``."""
        with self._state_lock:
            self._terminate_next += responses

    def cut_connection(self, responses: int = 1) -> None:
        """Drop the connection after the first chunk of the next ``responses`` export bodies."""
        with self._state_lock:
            self._cut_next += responses

    def handle(self, request: Request) -> Response:
        if request.path.rstrip("/") == EXPORT_PATH:
            if request.method != "GET":
                return _error(405, request, "use GET")
            return self._export(request)
        if request.path.rstrip("/") == ENGAGE_PATH:
            if request.method not in ("GET", "POST"):
                return _error(405, request, "use POST")
            return self._engage(request)
        return _error(404, request, "not found")

    # -- auth and limits ---------------------------------------------------------------------

    def _refusal(self, request: Request, limits: list[SlidingWindowLimit]) -> Response | None:
        """401 for bad credentials, 429 when a rate limit is spent, else None."""
        credentials = request.basic_auth()
        params = request.params()
        service_account = (
            credentials == (self.username, self.secret)
            and params.get("project_id") == self.project_id
        )
        legacy = self.project_secret is not None and credentials == (self.project_secret, "")
        if not (service_account or legacy):
            return _error(401, request, "Invalid username or secret for project")
        for limit in limits:
            wait = limit.hit()
            if wait is not None:
                return _error(
                    429,
                    request,
                    f"Query rate limit exceeded: at most {limit.limit} queries per "
                    f"{limit.period:g} s",
                    {"Retry-After": str(max(1, round(wait + 0.5)))},
                )
        return None

    # -- raw export --------------------------------------------------------------------------

    def _export(self, request: Request) -> Response:
        refused = self._refusal(request, self._export_limits)
        if refused is not None:
            return refused
        params = request.params()
        try:
            from_date = date.fromisoformat(params["from_date"])
            to_date = date.fromisoformat(params["to_date"])
        except (KeyError, ValueError):
            return _error(400, request, "from_date and to_date are required, as yyyy-mm-dd")
        if from_date > to_date:
            return _error(400, request, "from_date cannot be later than to_date")
        if to_date > self._today():
            return Response.text(400, "to_date cannot be later than today")
        with self._state_lock:
            terminate = self._terminate_next > 0
            if terminate:
                self._terminate_next -= 1
            cut = self._cut_next > 0
            if cut:
                self._cut_next -= 1
        days = [from_date + timedelta(days=n) for n in range((to_date - from_date).days + 1)]
        chunks = self._export_chunks(days, terminate)
        if cut:
            return Response(200, _cut_after_first(chunks), {"Content-Type": "text/plain"})
        headers, body = maybe_gzip(chunks, accept_gzip=request.accepts_gzip())
        return Response(200, body, {"Content-Type": "text/plain; charset=utf-8", **headers})

    def _export_chunks(self, days: list[date], terminate: bool) -> Iterator[bytes]:
        """The days' files, raw bytes in order, each ending in a newline."""
        for day in days:
            for path in self.day_files(day):
                with _open(path) as handle:
                    last = b"\n"
                    while chunk := handle.read(_CHUNK):
                        last = chunk[-1:]
                        yield chunk
                    if last != b"\n":
                        yield b"\n"
        if terminate:
            yield b"terminated early\n"

    def day_files(self, day: date) -> list[Path]:
        """The files of ``day`` in ``mixpanel/``, by name: the same ones the loader would read."""
        folder = self.exports_dir / "mixpanel"
        if not folder.is_dir():
            return []
        return sorted(
            path
            for path in folder.iterdir()
            if path.is_file()
            and path.name.endswith(DAY_SUFFIXES)
            and (match := _DAY.search(path.name)) is not None
            and match.group() == day.isoformat()
        )

    def _today(self) -> date:
        return self.today if self.today is not None else datetime.now(UTC).date()

    # -- engage ------------------------------------------------------------------------------

    def _engage(self, request: Request) -> Response:
        refused = self._refusal(request, self._engage_limits)
        if refused is not None:
            return refused
        params = request.params()
        try:
            page = int(params.get("page") or 0)
        except ValueError:
            return _error(400, request, "page must be an integer")
        if page < 0:
            return _error(400, request, "page must be >= 0")
        session_id = params.get("session_id") or None
        with self._state_lock:
            if session_id is None:
                if page > 0:
                    return _error(400, request, "page > 0 requires the session_id of page 0")
                session_id = secrets.token_hex(8)
                self._sessions[session_id] = self.load_profiles()
                while len(self._sessions) > _MAX_SESSIONS:
                    self._sessions.popitem(last=False)
            profiles = self._sessions.get(session_id)
        if profiles is None:
            return _error(400, request, f"unknown or expired session_id {session_id!r}")
        start = page * self.page_size
        return Response.json(
            200,
            {
                "page": page,
                "page_size": self.page_size,
                "session_id": session_id,
                "status": "ok",
                "total": len(profiles),
                "results": profiles[start : start + self.page_size],
            },
        )

    def load_profiles(self) -> list[Any]:
        """Every profile of ``mixpanel/profiles/page-*.json``, in page order."""
        profiles: list[Any] = []
        for page in sorted((self.exports_dir / "mixpanel" / "profiles").glob("page-*.json")):
            profiles.extend(json.loads(page.read_bytes()).get("results", []))
        return profiles


def _cut_after_first(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Yield the first chunk, then drop the connection."""
    yield next(chunks, b"partial")[:100]
    raise AbortConnection


def _limits(
    per_second: int | None, per_hour: int | None, clock: Callable[[], float]
) -> list[SlidingWindowLimit]:
    limits = []
    if per_second:
        limits.append(SlidingWindowLimit(per_second, 1.0, clock))
    if per_hour:
        limits.append(SlidingWindowLimit(per_hour, 3600.0, clock))
    return limits


def _error(
    status: int, request: Request, message: str, headers: dict[str, str] | None = None
) -> Response:
    """Mixpanel's JSON error shape: the request path and an ``error`` text."""
    return Response.json(status, {"request": request.path, "error": message}, headers)


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
