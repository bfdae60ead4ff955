"""Pull Amplitude events (Export API) into the export folder, one UTC upload day per zip.

``GET /api/2/export?start=YYYYMMDDT00&end=YYYYMMDDT23`` returns a zip of hourly gzip NDJSON
files named ``<project>_<yyyy-MM-dd>_<H>#<n>.json.gz`` (reference/formats.md §4). We keep the
zip as delivered, under ``amplitude/<project>_YYYY-MM-DD.zip``, which is the layout the loader
and ``recur generate`` share. The window is on ``server_upload_time``, so a day's zip holds what
Amplitude *stored* that day, whatever the events' own times.

Status codes that matter: 404 means "no data in the range" (not an error: None), 504 is a
time-out on large data (retried), 400 means the export exceeds 4 GB (not retryable; a day that
large needs hourly slices or Amplitude's S3 export).
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
import zipfile
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from sources.errors import AuthenticationError, ExportAPIError
from sources.http import HttpClient, RetryPolicy, StagedFile
from sources.mixpanel_api import utc_today

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://amplitude.com"

ENV_API_KEY = "AMPLITUDE_API_KEY"
ENV_SECRET_KEY = "AMPLITUDE_SECRET_KEY"
ENV_BASE_URL = "AMPLITUDE_BASE_URL"
ENV_PROJECT_ID = "AMPLITUDE_PROJECT_ID"

#: Zip name used when neither the caller nor the member names tell the project id.
UNKNOWN_PROJECT = "amplitude"

#: ``187520_2020-01-25_17#1.json.gz`` (possibly inside a ``187520/`` folder in the zip).
MEMBER_NAME = re.compile(
    r"^(?P<project>[^_/]+)_(?P<day>\d{4}-\d{2}-\d{2})_(?P<hour>\d{1,2})#(?P<part>\d+)\.json(\.gz)?$"
)

_CHUNK = 1 << 16


class AmplitudeExportClient:
    """Client for Amplitude's Export API (HTTP Basic ``api_key:secret_key``).

    ``project_id`` names the zips; when omitted it is read from the member names of each
    downloaded zip. Example::

        client = AmplitudeExportClient("key", "secret")
        path = client.download_day(date(2024, 6, 10), Path("data/exports"))
    """

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        project_id: int | str | None = None,
        timeout: float | tuple[float, float] = (10.0, 600.0),
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        today: Callable[[], date] = utc_today,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key or not secret_key:
            raise AuthenticationError(
                f"Amplitude API key or secret key is empty: set {ENV_API_KEY} and {ENV_SECRET_KEY}"
            )
        self.base_url = base_url.rstrip("/")
        self.project_id = None if project_id in (None, "") else str(project_id)
        self._today = today
        self._http = HttpClient(
            auth=(api_key, secret_key),
            credential_hint=f"check {ENV_API_KEY}/{ENV_SECRET_KEY}",
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            rng=random.Random(seed),
            session=session,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> AmplitudeExportClient:
        """Build a client from ``AMPLITUDE_API_KEY``, ``AMPLITUDE_SECRET_KEY`` and the optional
        ``AMPLITUDE_BASE_URL`` (EU: https://analytics.eu.amplitude.com) and ``AMPLITUDE_PROJECT_ID``.
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        api_key, secret_key = get(ENV_API_KEY), get(ENV_SECRET_KEY)
        if not (api_key and secret_key):
            raise AuthenticationError(
                f"no Amplitude credentials: set {ENV_API_KEY} and {ENV_SECRET_KEY}"
            )
        kwargs.setdefault("project_id", get(ENV_PROJECT_ID))
        return cls(api_key, secret_key, get(ENV_BASE_URL) or DEFAULT_BASE_URL, **kwargs)

    def __repr__(self) -> str:
        return f"AmplitudeExportClient(base_url={self.base_url!r}, project_id={self.project_id!r})"

    def __enter__(self) -> AmplitudeExportClient:
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

    def download_day(self, day: date, exports_dir: Path) -> Path | None:
        """Export upload hours 00..23 of ``day`` to ``amplitude/<project>_YYYY-MM-DD.zip``.

        Returns None, writing nothing, when Amplitude has no data for the day (HTTP 404). The
        zip is streamed to a temp file, checked with ``testzip`` and only then renamed, so a
        truncated or corrupt download never reaches the loader. Days that have not ended (UTC)
        are refused: their zip would be silently partial. Note that Amplitude makes an hour
        exportable about 2 h after it ends, so yesterday's last hours may arrive only after
        02:00 UTC; re-downloading a day replaces its zip.
        """
        today = self._today()
        if day >= today:
            raise ExportAPIError(
                f"Amplitude day {day.isoformat()} has not ended yet (today is "
                f"{today.isoformat()} UTC): export at most {(today - timedelta(days=1)).isoformat()}"
            )
        stamp = day.strftime("%Y%m%d")
        try:
            return self._http.fetch(
                "GET",
                f"{self.base_url}/api/2/export",
                params={"start": f"{stamp}T00", "end": f"{stamp}T23"},
                passthrough=(404,),
                consume=lambda response: self._save_zip(response, day, Path(exports_dir)),
            )
        except AuthenticationError:
            raise
        except ExportAPIError as exc:
            if exc.status != 400:
                raise
            raise ExportAPIError(
                f"Amplitude refused the export of {day.isoformat()}: {exc}. Amplitude answers "
                "400 when an export exceeds 4 GB; a day that large needs hourly slices or "
                "Amplitude's S3 export",
                status=400,
            ) from exc

    def _save_zip(self, response: requests.Response, day: date, exports_dir: Path) -> Path | None:
        """Stream the zip to a temp file, validate it, and rename it after its project."""
        if response.status_code == 404:
            log.info("Amplitude has no data for %s (HTTP 404)", day)
            return None
        amplitude_dir = exports_dir / "amplitude"
        with StagedFile(amplitude_dir) as staged:
            for chunk in response.iter_content(chunk_size=_CHUNK):
                staged.file.write(chunk)
            staged.seal()
            members = _validated_members(staged.path, day)
            if not members:
                log.info("Amplitude returned an empty zip for %s", day)
                return None
            project = self.project_id or _project_of(members) or UNKNOWN_PROJECT
            target = staged.commit(amplitude_dir / f"{project}_{day.isoformat()}.zip")
        if project != UNKNOWN_PROJECT:
            # A zip saved before the project was known is the same day: keep one file per day.
            (amplitude_dir / f"{UNKNOWN_PROJECT}_{day.isoformat()}.zip").unlink(missing_ok=True)
        return target


def _validated_members(path: Path, day: date) -> list[str]:
    """The member names of a downloaded zip, after checking every member's CRC."""
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise ExportAPIError(
            f"Amplitude export of {day.isoformat()} is not a readable zip ({exc}); nothing was "
            "written. Re-run the download"
        ) from exc
    if broken is not None:
        raise ExportAPIError(
            f"Amplitude export of {day.isoformat()} has a corrupt member {broken!r}; nothing was "
            "written. Re-run the download"
        )
    return names


def _project_of(members: list[str]) -> str | None:
    """The project id shared by the member names, or None if absent or ambiguous."""
    projects = {
        match["project"]
        for name in members
        if (match := MEMBER_NAME.match(name.rsplit("/", 1)[-1])) is not None
    }
    if len(projects) > 1:
        log.warning(
            "Amplitude zip mixes projects %s; naming it %r", sorted(projects), UNKNOWN_PROJECT
        )
    return projects.pop() if len(projects) == 1 else None
