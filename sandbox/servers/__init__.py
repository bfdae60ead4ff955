"""Local stand-ins for the vendors' APIs: Mixpanel's and Amplitude's Export APIs, served from an
export folder, HubSpot's CRM (contacts, properties, lists), kept in SQLite, and Braze's
``/users/track`` (user profiles in memory, saved to a JSON file).

Library code only (no Dagster): tests start them in a thread on a free loopback port, and
``recur sandbox`` will run them in the foreground. See :mod:`sandbox.servers.base` for the
request log and fault scripting every server shares.
"""

from __future__ import annotations

from sandbox.servers.amplitude import SANDBOX_API_KEY, SANDBOX_SECRET_KEY, AmplitudeServer
from sandbox.servers.base import (
    Request,
    RequestRecord,
    Response,
    SandboxServer,
    ServerHandle,
    run_in_thread,
    serve_forever,
)
from sandbox.servers.braze import SANDBOX_BRAZE_API_KEY, BrazeServer
from sandbox.servers.hubspot import SANDBOX_HUBSPOT_TOKEN, HubSpotServer
from sandbox.servers.mixpanel import (
    SANDBOX_PROJECT_ID,
    SANDBOX_SECRET,
    SANDBOX_USERNAME,
    MixpanelServer,
)

__all__ = [
    "SANDBOX_API_KEY",
    "SANDBOX_BRAZE_API_KEY",
    "SANDBOX_HUBSPOT_TOKEN",
    "SANDBOX_PROJECT_ID",
    "SANDBOX_SECRET",
    "SANDBOX_SECRET_KEY",
    "SANDBOX_USERNAME",
    "AmplitudeServer",
    "BrazeServer",
    "HubSpotServer",
    "MixpanelServer",
    "Request",
    "RequestRecord",
    "Response",
    "SandboxServer",
    "ServerHandle",
    "run_in_thread",
    "serve_forever",
]
