"""Shared HTTP plumbing for the vendors' Export APIs: retries, pacing, redaction, atomic files.

Both Mixpanel and Amplitude answer transient trouble the same way (429 when a rate limit is hit,
5xx/504 when a large export times out, dropped connections mid-stream), so one retry loop serves
both clients. Three rules shape it:

* bounded: a fixed number of attempts, then an :class:`~sources.errors.ExportAPIError` that
  names the URL and the last status, so a scheduler run fails loudly instead of hanging;
* polite: exponential backoff with jitter, and the server's ``Retry-After`` wins when given;
* secret-free: credentials travel only in the ``Authorization`` header; every message we build
  strips user-info from URLs and blanks any credential value that might echo back in a body.

Downloads are streamed through :func:`atomic_file`, so a crash or a retry never leaves a half
written export where the loader would pick it up.

Example (against any server)::

    client = HttpClient(auth=("user", "secret"), credential_hint="set API_USER/API_SECRET")
    body = client.fetch("GET", "https://example.test/ping", consume=lambda r: r.content)
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import os
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from sources.errors import AuthenticationError, ExportAPIError, RateLimitedError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Errors raised by requests/urllib3 that a fresh attempt may cure (network blips, a stream
#: cut mid-body, a broken gzip frame). Invalid URLs and the like are *not* in here.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

#: Query parameters whose values never appear in messages (none of our APIs put secrets in
#: the query string, but a caller-supplied URL might).
_SECRET_PARAMS = frozenset({"api_key", "secret", "secret_key", "token", "access_token", "password"})

#: How much of an error body we quote: enough for Mixpanel's one-line JSON errors.
_ERROR_BODY_LIMIT = 2000


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    ``max_attempts`` counts every request, the first included. Backoff for attempt *n* (1-based)
    is ``min(max_delay, base_delay * 2 ** (n - 1))``, of which the ``jitter`` fraction is
    randomised so that parallel workers do not retry in lock-step. A ``Retry-After`` header
    replaces the backoff; one longer than ``max_retry_after`` (Mixpanel's hourly budget can ask
    for most of an hour) fails at once rather than stalling a run for longer than we accept.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.5
    max_retry_after: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"RetryPolicy.jitter must be within [0, 1], got {self.jitter}")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling * (1.0 - self.jitter) + ceiling * self.jitter * rng.random()


class Pacer:
    """Client-side rate limiter: at most ``max_calls`` calls in any ``period`` seconds.

    Mixpanel allows 3 queries per second; staying under it ourselves is cheaper than being told
    off with a 429. ``margin`` widens the window a little because the server's clock starts when
    the request arrives, slightly after ours. Thread-safe, so one pacer can guard a client shared
    by several workers.
    """

    def __init__(
        self,
        max_calls: int,
        period: float = 1.0,
        *,
        margin: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_calls < 1:
            raise ValueError(f"Pacer.max_calls must be >= 1, got {max_calls}")
        self.max_calls = max_calls
        self.period = period
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until one more call fits in the window, then record it."""
        with self._lock:
            window = self.period + self.margin
            now = self._clock()
            while self._calls and now - self._calls[0] >= window:
                self._calls.popleft()
            if len(self._calls) >= self.max_calls:
                self._sleep(window - (now - self._calls[0]))
                now = self._clock()
                self._calls.popleft()
            self._calls.append(now)

    def __repr__(self) -> str:
        return f"Pacer(max_calls={self.max_calls}, period={self.period})"


def safe_url(url: str) -> str:
    """``url`` without user-info and with secret-looking query values blanked, fit for messages."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = urlencode(
        [
            (key, "***" if key.lower() in _SECRET_PARAMS else value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="-:",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_retry_after(
    value: str | None, *, now: Callable[[], datetime] | None = None
) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date), else None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


class HttpClient:
    """A ``requests.Session`` with bounded retries, pacing and secret-free errors.

    ``credential_hint`` finishes the message of an :class:`AuthenticationError` (401/403): it
    should name the environment variables to fix, e.g. ``"check MIXPANEL_SERVICE_ACCOUNT_USERNAME
    /SECRET"``. ``sleep`` and ``rng`` are injectable so tests run retries in microseconds and
    with reproducible jitter.
    """

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None,
        credential_hint: str,
        timeout: float | tuple[float, float] = (10.0, 300.0),
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        user_agent: str = "recur-export-client/0.1",
    ) -> None:
        self._session = session if session is not None else requests.Session()
        self._session.headers["User-Agent"] = user_agent
        self._auth = auth
        # Everything that must never be shown; empty strings would blank every message.
        self._secrets = tuple(sorted({part for part in auth or () if part}, key=len, reverse=True))
        self.credential_hint = credential_hint
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self.pacer = pacer
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()

    def __repr__(self) -> str:
        return f"HttpClient(retry={self.retry!r}, pacer={self.pacer!r})"

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    def redact(self, text: str) -> str:
        """``text`` with every credential value replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def backoff(self, attempt: int) -> float:
        """The jittered delay after failed attempt ``attempt``; shared with callers' own loops."""
        return self.retry.backoff(attempt, self._rng)

    def sleep(self, seconds: float) -> None:
        """Wait through the injected sleep function (callers re-requesting on their own use it)."""
        self._sleep(max(0.0, seconds))

    def fetch(
        self,
        method: str,
        url: str,
        *,
        consume: Callable[[requests.Response], T],
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        passthrough: Collection[int] = (),
    ) -> T:
        """Send a request, retrying transient failures, and return ``consume(response)``.

        The response is streamed: ``consume`` reads the body itself (e.g. into a file) and is
        called inside the retry loop, so a connection cut mid-body is retried like one cut
        before the headers. ``consume`` must therefore be safe to call again from scratch.
        It is called for 2xx answers and for statuses listed in ``passthrough`` (Amplitude's
        404 "no data"); 401/403 raise :class:`AuthenticationError`, 429/5xx are retried, and any
        other status raises :class:`ExportAPIError` quoting the server's body.
        """
        attempt = 0
        while True:
            attempt += 1
            if self.pacer is not None:
                self.pacer.wait()
            shown_url = safe_url(url)
            status: int | None = None
            retry_after: float | None = None
            try:
                with self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=dict(headers or {}),
                    auth=self._auth,
                    timeout=self.timeout,
                    stream=True,
                ) as response:
                    status = response.status_code
                    shown_url = safe_url(response.url or url)
                    if 200 <= status < 300 or status in passthrough:
                        return consume(response)
                    body = self._error_body(response)
                    if status in (401, 403):
                        raise AuthenticationError(
                            f"{method} {shown_url} was refused with HTTP {status} ({body}): "
                            f"{self.credential_hint}",
                            status=status,
                        )
                    if status != 429 and status < 500:
                        raise ExportAPIError(
                            f"{method} {shown_url} answered HTTP {status}: {body}", status=status
                        )
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    failure = f"HTTP {status}: {body}"
            except TRANSIENT_ERRORS as exc:
                failure = f"{type(exc).__name__}: {self.redact(str(exc))}"

            error_type = RateLimitedError if status == 429 else ExportAPIError
            if attempt >= self.retry.max_attempts:
                raise error_type(
                    f"{method} {shown_url} failed after {attempt} attempts; last error {failure}",
                    status=status,
                )
            if retry_after is not None and retry_after > self.retry.max_retry_after:
                raise error_type(
                    f"{method} {shown_url} asked to retry after {retry_after:.0f} s, more than the "
                    f"{self.retry.max_retry_after:.0f} s allowed; last error {failure}",
                    status=status,
                )
            delay = retry_after if retry_after is not None else self.backoff(attempt)
            log.warning(
                "%s %s: %s; retry %d/%d in %.2f s",
                method,
                shown_url,
                failure,
                attempt,
                self.retry.max_attempts - 1,
                delay,
            )
            self.sleep(delay)

    def _error_body(self, response: requests.Response) -> str:
        """The first couple of kilobytes of an error body as text, credentials blanked."""
        received = bytearray()
        try:
            for chunk in response.iter_content(chunk_size=_ERROR_BODY_LIMIT):
                received += chunk
                if len(received) >= _ERROR_BODY_LIMIT:
                    break
        except TRANSIENT_ERRORS:
            pass
        text = bytes(received[:_ERROR_BODY_LIMIT]).decode("utf-8", errors="replace").strip()
        return self.redact(text) or "<empty body>"


class DiscardFile(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside :func:`atomic_file` to drop the temp file and keep the old one (if any)."""


class StagedFile:
    """A temp file beside its destination that becomes visible only on :meth:`commit`.

    The temp name starts with a dot and carries no date or ``.json``/``.zip`` suffix, so no
    export-folder glob (``*.jsonl.gz``, ``*.zip``) ever sees a partial download. Leaving the
    ``with`` block without committing (an exception, an empty body) deletes it. Use this when
    the final name is only known after the body was read (Amplitude's project id); otherwise
    :func:`atomic_file` is shorter.
    """

    def __init__(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f".recur-download-{secrets.token_hex(6)}.part"
        self.file: IO[bytes] = open(self.path, "wb")  # closed by seal() or discard()
        self.committed = False

    def __enter__(self) -> StagedFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.committed:
            self.discard()

    def seal(self) -> None:
        """Flush, fsync and close the temp file so it can be read back and renamed."""
        if not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()

    def commit(self, final_path: Path) -> Path:
        """Rename the sealed temp file to ``final_path`` (replacing it) and persist the rename."""
        self.seal()
        final_path = Path(final_path)
        os.replace(self.path, final_path)
        fsync_directory(final_path.parent)
        self.committed = True
        return final_path

    def discard(self) -> None:
        """Close and delete the temp file; the destination keeps its previous content."""
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def atomic_file(final_path: Path) -> Iterator[IO[bytes]]:
    """Write ``final_path`` all-or-nothing: a :class:`StagedFile` committed when the block ends.

    On an exception the temp file is removed and ``final_path`` keeps its previous content.
    A block that decides mid-way that nothing should be written raises :class:`DiscardFile`,
    which is swallowed here.
    """
    final_path = Path(final_path)
    with StagedFile(final_path.parent) as staged:
        try:
            yield staged.file
        except DiscardFile:
            return
        staged.commit(final_path)


def fsync_directory(path: Path) -> None:
    """Persist a rename: fsync the directory entry (a no-op where the OS does not allow it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
