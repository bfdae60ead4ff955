"""Turn HubSpot's answers into the engine's three reactions: retry, split, or stop.

HubSpot's error bodies (``status``, ``category``, ``message``, ``context``, ``errors``) are all
optional, so every field is read defensively (reference/hubspot.md §2-§4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from syncs.errors import BatchRejected, DestinationError, FatalError, RetryableError

#: 400 messages that no split can fix: the sync's configuration is wrong.
CONFIG_PROBLEMS = ("PROPERTY_DOESNT_EXIST", "non-unique", "idProperty")

#: HubSpot asks to wait at least this long after 423 Locked ("Locks will last for 2 seconds").
LOCK_WAIT = 2.0


def body_of(exc: Any) -> dict[str, Any]:
    """The JSON body of an ApiException, or {}."""
    try:
        body = json.loads(getattr(exc, "body", None) or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def classify(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str], *, what: str, hint: float
) -> DestinationError:
    """The engine's error for a HubSpot error answer to ``what`` (e.g. "batch upsert")."""
    message = str(body.get("message") or "").strip() or f"HTTP {status}"
    category = body.get("category") or body.get("errorType")
    retry_after = _float(headers.get("Retry-After") or headers.get("retry-after"))
    text = f"HubSpot {what}: {status} {category or ''} {message}".replace("  ", " ")
    if status in (401, 403):
        return FatalError(
            f"HubSpot refused the access token for {what} (HTTP {status}): check "
            "HUBSPOT_ACCESS_TOKEN and the private app's scopes (crm.objects.contacts.write, "
            "crm.schemas.contacts.write, crm.lists.write)",
            status,
        )
    if status == 429:
        if body.get("policyName") == "DAILY":
            return FatalError(
                f"{text}. The daily API limit is used up; the sync resumes in a later run", status
            )
        return RetryableError(text, status, wait=retry_after if retry_after is not None else hint)
    if status == 423:
        return RetryableError(text, status, wait=max(LOCK_WAIT, retry_after or 0))
    if status == 477:
        return FatalError(
            f"{text}. The HubSpot account is being migrated; retry after "
            f"{retry_after or 'some hours'} s (rows stay dirty until then)",
            status,
        )
    if status >= 500:
        return RetryableError(text, status, wait=retry_after or 0.0)
    if status == 400:
        if any(problem in message for problem in CONFIG_PROBLEMS):
            return FatalError(text, status)
        return BatchRejected(text, status)
    return FatalError(text, status)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
