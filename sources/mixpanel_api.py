"""Pull Mixpanel raw events (Export API) and profiles (Engage API) into the export folder.

The files written here are the same ones ``recur generate`` writes, so the loader does not care
whether a day came from a vendor, the sandbox server or the generator:

* ``mixpanel/YYYY-MM-DD.jsonl.gz``: one UTC day of raw events, stored exactly as streamed
  (gzip-compressed, because a day of JSONL compresses about tenfold);
* ``mixpanel/profiles/page-NNNN.json``: the Engage pages as returned, replaced as a set.

Contract details (reference/formats.md §1 and §3) that shape the code:

* A day is complete only if the body does not end in the literal line ``terminated early``;
  such a day is re-requested a few times, then :class:`IncompleteExportError` is raised, and the
  truncated body is never written.
* Mixpanel refuses ``to_date`` later than today with HTTP 400; a day that has not ended is also
  incomplete, so days >= today (UTC) are refused before any request is spent on them.
* 60 queries per hour and 3 per second: a client-side pacer keeps to 3/s; the hourly budget is
  left to the server's 429 + ``Retry-After``, which the retry loop honours.
* Engage paging is stateful (``session_id`` + ``page``), so any error restarts from page 0.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from sources.errors import AuthenticationError, ExportAPIError, IncompleteExportError
from sources.http import (
    DiscardFile,
    HttpClient,
    Pacer,
    RetryPolicy,
    atomic_file,
    fsync_directory,
)

log = logging.getLogger(__name__)

DEFAULT_EXPORT_URL = "https://data.mixpanel.com"
DEFAULT_QUERY_URL = "https://mixpanel.com"

ENV_USERNAME = "MIXPANEL_SERVICE_ACCOUNT_USERNAME"
ENV_SECRET = "MIXPANEL_SERVICE_ACCOUNT_SECRET"
ENV_PROJECT_ID = "MIXPANEL_PROJECT_ID"
ENV_PROJECT_SECRET = "MIXPANEL_API_SECRET"  # legacy project secret, retired March 2027
ENV_EXPORT_URL = "MIXPANEL_EXPORT_URL"
ENV_QUERY_URL = "MIXPANEL_QUERY_URL"

#: The line Mixpanel appends when it cut the stream short (formats.md §1).
TERMINATED_EARLY = b"terminated early"

#: Profiles per Engage page unless the response says otherwise.
ENGAGE_PAGE_SIZE = 1000

_CHUNK = 1 << 16
#: Enough trailing bytes to see the last line even behind a run of blank lines.
_TAIL = 4096


class _Body(Enum):
    """What one export response turned out to hold."""

    SAVED = "saved"
    EMPTY = "empty"
    TERMINATED = "terminated"


def utc_today() -> date:
    """Today's date in UTC: the boundary of Mixpanel days for projects created after 2023."""
    return datetime.now(UTC).date()


class MixpanelExportClient:
    """Client for Mixpanel's Raw Event Export and Engage APIs.

    Authentication is a service account (``username``, ``secret`` and ``project_id``) or, for
    old setups, the deprecated project secret: pass ``username=None, project_id=None`` and the
    secret is sent as the Basic username with an empty password.

    Example::

        client = MixpanelExportClient("svc.user", "s3cr3t", 123456)
        path = client.download_day(date(2024, 6, 10), Path("data/exports"))
    """

    def __init__(
        self,
        username: str | None,
        secret: str,
        project_id: int | str | None,
        export_url: str = DEFAULT_EXPORT_URL,
        query_url: str = DEFAULT_QUERY_URL,
        *,
        timeout: float | tuple[float, float] = (10.0, 300.0),
        retry: RetryPolicy | None = None,
        incomplete_attempts: int = 3,
        profile_attempts: int = 3,
        max_queries_per_second: int | None = 3,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        today: Callable[[], date] = utc_today,
        session: requests.Session | None = None,
    ) -> None:
        if not secret:
            raise AuthenticationError(
                f"Mixpanel secret is empty: set {ENV_SECRET} (or the legacy {ENV_PROJECT_SECRET})"
            )
        if username and project_id in (None, ""):
            raise AuthenticationError(
                f"a Mixpanel service account needs a project id: set {ENV_PROJECT_ID}"
            )
        if incomplete_attempts < 1 or profile_attempts < 1:
            raise ValueError("incomplete_attempts and profile_attempts must be >= 1")
        self.service_account = bool(username)
        self.project_id = None if project_id in (None, "") else str(project_id)
        self.export_url = export_url.rstrip("/")
        self.query_url = query_url.rstrip("/")
        self.incomplete_attempts = incomplete_attempts
        self.profile_attempts = profile_attempts
        self._today = today
        auth = (username, secret) if username else (secret, "")
        hint = (
            f"check {ENV_USERNAME}/SECRET and {ENV_PROJECT_ID}"
            if self.service_account
            else f"check {ENV_PROJECT_SECRET} (or switch to {ENV_USERNAME}/SECRET)"
        )
        self._http = HttpClient(
            auth=auth,
            credential_hint=hint,
            timeout=timeout,
            retry=retry,
            pacer=Pacer(max_queries_per_second) if max_queries_per_second else None,
            sleep=sleep,
            rng=random.Random(seed),
            session=session,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> MixpanelExportClient:
        """Build a client from ``MIXPANEL_*`` variables; the service account wins over legacy.

        Reads ``MIXPANEL_SERVICE_ACCOUNT_USERNAME``, ``MIXPANEL_SERVICE_ACCOUNT_SECRET``,
        ``MIXPANEL_PROJECT_ID``, or the legacy ``MIXPANEL_API_SECRET``, plus the optional
        ``MIXPANEL_EXPORT_URL`` / ``MIXPANEL_QUERY_URL`` (EU: data-eu.mixpanel.com /
        eu.mixpanel.com; the sandbox: a loopback URL).
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        username, secret = get(ENV_USERNAME), get(ENV_SECRET)
        project_id = get(ENV_PROJECT_ID)
        if not (username and secret):
            legacy = get(ENV_PROJECT_SECRET)
            if legacy is None:
                raise AuthenticationError(
                    f"no Mixpanel credentials: set {ENV_USERNAME}, {ENV_SECRET} and "
                    f"{ENV_PROJECT_ID} (or the legacy {ENV_PROJECT_SECRET})"
                )
            username, secret = None, legacy
        return cls(
            username,
            secret,
            project_id,
            export_url=get(ENV_EXPORT_URL) or DEFAULT_EXPORT_URL,
            query_url=get(ENV_QUERY_URL) or DEFAULT_QUERY_URL,
            **kwargs,
        )

    def __repr__(self) -> str:
        auth = "service-account" if self.service_account else "project-secret"
        return (
            f"MixpanelExportClient(project_id={self.project_id!r}, auth={auth!r}, "
            f"export_url={self.export_url!r}, query_url={self.query_url!r})"
        )

    def __enter__(self) -> MixpanelExportClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections."""
        self._http.close()

    # ------------------------------------------------------------------ raw events

    def download_day(self, day: date, exports_dir: Path) -> Path | None:
        """Export one UTC day to ``exports_dir/mixpanel/YYYY-MM-DD.jsonl.gz``; None if empty.

        The body is streamed into a gzip temp file and renamed into place only when complete,
        so the loader never sees a partial day. A successful download replaces any other file
        of that day (``.jsonl``, ``.json``, ``.json.gz``) so the folder keeps one file per day; an empty day
        writes and removes nothing.
        """
        today = self._today()
        if day >= today:
            raise ExportAPIError(
                f"Mixpanel day {day.isoformat()} has not ended yet (today is {today.isoformat()} "
                f"in the project's time zone): export at most "
                f"{(today - timedelta(days=1)).isoformat()}"
            )
        mixpanel_dir = Path(exports_dir) / "mixpanel"
        target = mixpanel_dir / f"{day.isoformat()}.jsonl.gz"
        params = {"from_date": day.isoformat(), "to_date": day.isoformat()}
        if self.project_id is not None:
            params["project_id"] = self.project_id

        for attempt in range(1, self.incomplete_attempts + 1):
            outcome = self._http.fetch(
                "GET",
                f"{self.export_url}/api/2.0/export",
                params=params,
                headers={"Accept-Encoding": "gzip"},
                consume=lambda response: _save_export_body(response, target),
            )
            if outcome is not _Body.TERMINATED:
                break
            log.warning(
                "Mixpanel export of %s ended with 'terminated early' (attempt %d/%d)",
                day,
                attempt,
                self.incomplete_attempts,
            )
            if attempt < self.incomplete_attempts:
                self._http.sleep(self._http.backoff(attempt))
        else:
            raise IncompleteExportError(
                f"Mixpanel export of {day.isoformat()} ended with 'terminated early' "
                f"{self.incomplete_attempts} times; nothing was written. Re-run later, or "
                "export smaller slices (the `event` filter) if the day is very large"
            )

        if outcome is _Body.EMPTY:
            return None
        for suffix in (".jsonl", ".json", ".json.gz"):
            (mixpanel_dir / f"{day.isoformat()}{suffix}").unlink(missing_ok=True)
        return target

    # ------------------------------------------------------------------ profiles

    def download_profiles(self, exports_dir: Path) -> list[Path]:
        """Page through Engage into ``exports_dir/mixpanel/profiles/``; return the page files.

        Pages are written to a hidden staging folder which replaces ``profiles/`` only once the
        last page arrived, so a failed pull leaves the previous complete set in place. Page 0
        is always written (with empty ``results`` when there are no profiles) so that an empty
        project replaces stale profiles too.
        """
        mixpanel_dir = Path(exports_dir) / "mixpanel"
        mixpanel_dir.mkdir(parents=True, exist_ok=True)
        final = mixpanel_dir / "profiles"
        last_error: ExportAPIError | None = None
        for attempt in range(1, self.profile_attempts + 1):
            staging = Path(tempfile.mkdtemp(prefix=".recur-profiles-", dir=mixpanel_dir))
            try:
                self._fetch_profile_pages(staging)
            except AuthenticationError:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            except ExportAPIError as exc:
                shutil.rmtree(staging, ignore_errors=True)
                last_error = exc
                log.warning(
                    "Mixpanel Engage paging failed (attempt %d/%d), restarting from page 0: %s",
                    attempt,
                    self.profile_attempts,
                    exc,
                )
                if attempt < self.profile_attempts:
                    self._http.sleep(self._http.backoff(attempt))
                continue
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            _swap_directory(staging, final)
            return sorted(final.glob("page-*.json"))
        raise ExportAPIError(
            f"Mixpanel Engage paging failed {self.profile_attempts} times, each time restarted "
            f"from page 0; the previous profiles were kept. Last error: {last_error}",
            status=last_error.status if last_error else None,
        )

    def _fetch_profile_pages(self, staging: Path) -> int:
        """Fetch every page into ``staging``; return how many profiles arrived."""
        url = f"{self.query_url}/api/query/engage"
        params = {"project_id": self.project_id} if self.project_id is not None else None
        page = 0
        session_id: str | None = None
        profiles = 0
        while True:
            form: dict[str, Any] = {"page": page}
            if session_id is not None:
                form["session_id"] = session_id
            body = self._http.fetch(
                "POST", url, params=params, data=form, consume=lambda response: response.content
            )
            payload = _parse_engage_page(body, page)
            results = payload["results"]
            page_size = int(payload.get("page_size") or ENGAGE_PAGE_SIZE)
            if page == 0:
                session_id = payload.get("session_id") or None
            if results or page == 0:
                _write_durable(staging / f"page-{page:04d}.json", body)
            profiles += len(results)
            if len(results) < page_size:
                return profiles
            if session_id is None:
                raise ExportAPIError(
                    "Mixpanel Engage page 0 was full but carried no session_id, so later pages "
                    "cannot be requested"
                )
            page += 1


def _save_export_body(response: requests.Response, target: Path) -> _Body:
    """Stream a raw-export body into ``target`` (gzip) unless it is empty or terminated early.

    ``iter_content`` undoes the transfer gzip, so what we compress is exactly the JSONL text
    (level 6: most of level 9's ratio at a fraction of the CPU). Only the last few kilobytes are
    kept in memory, to look for the ``terminated early`` line.
    """
    outcome = _Body.SAVED
    with atomic_file(target) as raw:
        tail = b""
        has_data = False
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as out:
            for chunk in response.iter_content(chunk_size=_CHUNK):
                if not chunk:
                    continue
                out.write(chunk)
                has_data = has_data or bool(chunk.strip())
                tail = (tail + chunk)[-_TAIL:]
        if _ends_terminated_early(tail):
            outcome = _Body.TERMINATED
            raise DiscardFile
        if not has_data:
            outcome = _Body.EMPTY
            raise DiscardFile
    return outcome


def _ends_terminated_early(tail: bytes) -> bool:
    """True if the last non-blank line of the body is Mixpanel's truncation marker."""
    last_line = tail.rstrip().rsplit(b"\n", 1)[-1].strip()
    return last_line == TERMINATED_EARLY


def _parse_engage_page(body: bytes, page: int) -> dict[str, Any]:
    """Decode and sanity-check one Engage page; a bad page raises so paging restarts."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ExportAPIError(f"Mixpanel Engage page {page} is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        raise ExportAPIError(f"Mixpanel Engage page {page} has no 'results' list")
    if payload.get("status", "ok") != "ok":
        raise ExportAPIError(
            f"Mixpanel Engage page {page} has status {payload.get('status')!r}: "
            f"{payload.get('error', '')}"
        )
    if payload.get("page", page) != page:
        raise ExportAPIError(
            f"Mixpanel Engage answered page {payload.get('page')} when page {page} was asked"
        )
    return payload


def _write_durable(path: Path, data: bytes) -> None:
    """Write and fsync a file (inside a staging folder, so it needs no temp name of its own)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _swap_directory(staging: Path, final: Path) -> None:
    """Put ``staging`` in place of ``final``: two renames, the old set deleted afterwards.

    Not one atomic step (POSIX cannot swap directories portably), but the gap is two renames;
    a crash inside it leaves the old set in a ``.recur-profiles-old-*`` folder, never a mix.
    """
    fsync_directory(staging)
    old: Path | None = None
    if final.exists():
        old = final.with_name(f".recur-profiles-old-{secrets.token_hex(6)}")
        os.replace(final, old)
    os.replace(staging, final)
    fsync_directory(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
