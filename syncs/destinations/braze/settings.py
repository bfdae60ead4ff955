"""Braze settings, read from the environment only (the key is never logged or stored)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from syncs.errors import NotConfigured, SyncConfigError
from syncs.secrets import read_secret
from syncs.settings import count_from_env, seconds_from_env

#: Most attribute objects per ``/users/track`` request (docs/braze.md, "Limits").
MAX_BATCH = 75


@dataclass(frozen=True)
class BrazeSettings:
    """``BRAZE_API_KEY`` (a REST API key with the ``users.track`` permission), ``BRAZE_REST_URL``
    (the workspace's REST endpoint, e.g. ``https://rest.iad-01.braze.com``) and
    ``BRAZE_BATCH_SIZE`` (at most 75; 50 for accounts on Braze's "Monthly Active Users - CY
    24-25" contract)."""

    api_key: str = field(repr=False)
    rest_url: str
    timeout: float = 30.0
    batch_size: int = MAX_BATCH
    #: Requests per window to leave for other integrations sharing the workspace's budget.
    headroom: int = 10

    @classmethod
    def from_env(cls) -> BrazeSettings:
        """Raises NotConfigured without a key, SyncConfigError without a REST URL or for a
        malformed key (the error says which character is wrong and where, never the key).

        There is no default URL: Braze has one REST endpoint per instance (``rest.iad-01``,
        ``rest.fra-01``, ...), and a guessed one would send people to the wrong place."""
        key = read_secret("BRAZE_API_KEY")
        if not key:
            raise NotConfigured(
                "BRAZE_API_KEY is not set: Braze syncs are skipped. Set it to a REST API key "
                "with the users.track permission, or run `recur sandbox` for a local Braze."
            )
        url = (os.environ.get("BRAZE_REST_URL") or "").strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise SyncConfigError(
                f"BRAZE_REST_URL={url!r} is not a URL: set it to your Braze instance's REST "
                "endpoint (Settings > APIs and Identifiers, e.g. https://rest.iad-01.braze.com)"
            )
        return cls(
            api_key=key,
            rest_url=url,
            timeout=seconds_from_env("BRAZE_TIMEOUT_SECONDS", 30.0),
            batch_size=count_from_env("BRAZE_BATCH_SIZE", MAX_BATCH, MAX_BATCH),
        )
