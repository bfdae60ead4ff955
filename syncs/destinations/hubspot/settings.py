"""HubSpot settings, read from the environment only (the token is never logged or stored)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from syncs.errors import NotConfigured
from syncs.secrets import read_secret
from syncs.settings import seconds_from_env

DEFAULT_BASE_URL = "https://api.hubapi.com"


@dataclass(frozen=True)
class HubSpotSettings:
    """``HUBSPOT_ACCESS_TOKEN`` (a private app's token) and ``HUBSPOT_BASE_URL``."""

    access_token: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 30.0
    #: Requests per window to leave for other apps sharing the account's budget.
    headroom: int = 2

    @classmethod
    def from_env(cls) -> HubSpotSettings:
        """Raises NotConfigured without a token, SyncConfigError for a malformed one (the error
        says which character is wrong and where, never the token)."""
        token = read_secret("HUBSPOT_ACCESS_TOKEN")
        if not token:
            raise NotConfigured(
                "HUBSPOT_ACCESS_TOKEN is not set: HubSpot syncs are skipped. Set it to a private "
                "app token (scopes crm.objects.contacts.write, crm.schemas.contacts.write, "
                "crm.lists.write), or run `recur sandbox` for a local HubSpot."
            )
        return cls(
            access_token=token,
            base_url=(os.environ.get("HUBSPOT_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            timeout=seconds_from_env("HUBSPOT_TIMEOUT_SECONDS", 30.0),
        )
