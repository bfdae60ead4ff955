"""A local Amplitude Export API, served from the zips of an export folder.

``GET /api/2/export?start=YYYYMMDDTHH&end=YYYYMMDDTHH`` (reference/formats.md §4): HTTP Basic
``api_key:secret_key``; both hours inclusive; 400 when ``start`` > ``end``, a parameter is
malformed, or the range spans more than 365 days; 404 when no hourly file falls in the range;
otherwise a zip of every ``<project>_<yyyy-MM-dd>_<H>#<n>.json.gz`` member, from any zip under
``amplitude/``, whose upload day and hour fall in the range. Members keep their names and
bytes, so a client can compare what it saved with the source files.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

from sandbox.servers.base import Request, Response, SandboxServer

SANDBOX_API_KEY = "sandbox-api-key"
SANDBOX_SECRET_KEY = "sandbox-secret-key"

EXPORT_PATH = "/api/2/export"

#: Longest range one request may cover.
MAX_RANGE = timedelta(days=365)

_MEMBER = re.compile(
    r"^(?P<project>[^_/]+)_(?P<day>\d{4}-\d{2}-\d{2})_(?P<hour>\d{1,2})#(?P<part>\d+)\.json(\.gz)?$"
)
_HOUR_PARAM = re.compile(r"^\d{8}T\d{2}$")


class AmplitudeServer(SandboxServer):
    """Amplitude's Export API over ``exports_dir/amplitude/*.zip``.

    A scripted 504 (``server.script("/api/2/export", [504, 200])``) imitates the time-outs
    Amplitude gives on large exports.
    """

    def __init__(
        self,
        exports_dir: Path,
        *,
        api_key: str = SANDBOX_API_KEY,
        secret_key: str = SANDBOX_SECRET_KEY,
    ) -> None:
        super().__init__()
        self.exports_dir = Path(exports_dir)
        self.api_key = api_key
        self.secret_key = secret_key

    def __repr__(self) -> str:
        return f"AmplitudeServer(exports_dir={str(self.exports_dir)!r})"

    def handle(self, request: Request) -> Response:
        if request.path.rstrip("/") != EXPORT_PATH:
            return Response.text(404, "Not found")
        if request.method != "GET":
            return Response.text(405, "Use GET")
        if request.basic_auth() != (self.api_key, self.secret_key):
            return Response.text(401, "Invalid API key or secret key")
        try:
            start = _parse_hour(request.query.get("start"))
            end = _parse_hour(request.query.get("end"))
        except ValueError as exc:
            return Response.text(400, str(exc))
        if start > end:
            return Response.text(400, "start must not be later than end")
        if end - start >= MAX_RANGE:
            return Response.text(400, "The date range cannot be more than 365 days")
        body = self.export_zip(start, end)
        if body is None:
            return Response.text(404, "Raw data files were not found.")
        return Response(200, body, {"Content-Type": "application/zip"})

    def export_zip(self, start: datetime, end: datetime) -> bytes | None:
        """An in-memory zip of the members uploaded in [start, end] (hours), or None if none."""
        buffer = io.BytesIO()
        found = 0
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
            for source in sorted((self.exports_dir / "amplitude").glob("*.zip")):
                with zipfile.ZipFile(source) as archive:
                    for info in archive.infolist():
                        hour = _member_hour(info)
                        if hour is not None and start <= hour <= end:
                            out.writestr(info.filename, archive.read(info))
                            found += 1
        return buffer.getvalue() if found else None


def _parse_hour(value: str | None) -> datetime:
    """``YYYYMMDDTHH`` as a datetime, or ValueError with Amplitude-like wording."""
    if value is None or not _HOUR_PARAM.match(value):
        raise ValueError(f"start and end are required as YYYYMMDDTHH, got {value!r}")
    try:
        return datetime.strptime(value, "%Y%m%dT%H")
    except ValueError as exc:
        raise ValueError(f"invalid hour {value!r}: {exc}") from exc


def _member_hour(info: zipfile.ZipInfo) -> datetime | None:
    """The upload hour a member's name stands for, or None for other files."""
    if info.is_dir():
        return None
    match = _MEMBER.match(info.filename.rsplit("/", 1)[-1])
    if match is None:
        return None
    try:
        day = date.fromisoformat(match["day"])
        return datetime(day.year, day.month, day.day, int(match["hour"]))
    except ValueError:  # e.g. hour 24 or 2024-02-30: not an Amplitude file name
        return None
