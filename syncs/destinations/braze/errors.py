"""Turn Braze's answers into the engine's reactions: retry, split, reject rows, or stop.

Braze answers ``/users/track`` with ``{"message": ..., "errors": [...]}`` (docs/braze.md,
"Answers"). Minor errors name the object they concern by ``input_array`` and ``index``; every
field is read defensively, since Braze documents the shape only by example.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from syncs.errors import BatchRejected, DestinationError, FatalError, RetryableError


def body_of(data: bytes) -> dict[str, Any]:
    """A JSON object answer, or {} (an HTML error page from a proxy, an empty body)."""
    try:
        body = json.loads(data or b"{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def reset_in(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (UTC epoch seconds; Braze sends header names in
    lower case over HTTP/2, so any case is read), or None without the header.

    >>> reset_in({"x-ratelimit-reset": "1000"}, now=997.5)
    2.5
    """
    value = header(headers, "X-RateLimit-Reset")
    try:
        return float(value) - (time.time() if now is None else now) if value else None
    except ValueError:
        return None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever the case of its name."""
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        value = header(headers, name)
        return int(value) if value is not None else None
    except ValueError:
        return None


def describe_error(error: Any) -> str:
    """One minor error as text: its ``type`` (Braze's description), else the whole object."""
    if isinstance(error, Mapping):
        return str(error.get("type") or error.get("message") or json.dumps(error, sort_keys=True))
    return str(error)


def classify(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str], *, hint: float
) -> DestinationError:
    """The engine's error for a Braze error answer to ``/users/track``."""
    message = str(body.get("message") or "").strip() or f"HTTP {status}"
    details = "; ".join(describe_error(e) for e in body.get("errors") or [])
    text = f"Braze /users/track: {status} {message}" + (f" ({details})" if details else "")
    if status in (401, 403, 404):
        return FatalError(
            f"Braze refused the REST API key (HTTP {status} {message}): check BRAZE_API_KEY (a "
            "key with the users.track permission, of the workspace you sync to) and "
            "BRAZE_REST_URL (your instance's REST endpoint)",
            status,
        )
    if status == 429:
        wait = reset_in(headers)
        return RetryableError(text, status, wait=max(0.0, wait) if wait is not None else hint)
    if status >= 500:
        return RetryableError(text, status)
    if status in (400, 413):
        return BatchRejected(text, status)
    return FatalError(text, status)
