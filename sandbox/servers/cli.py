"""`recur sandbox`: the local vendor APIs in the foreground.

Mixpanel and Amplitude serve an export folder; HubSpot keeps its contacts and lists in
``<exports>/../sandbox/hubspot.sqlite`` and Braze its user profiles in
``<exports>/../sandbox/braze.json`` (written when it stops), so they survive a restart.
``SANDBOX_HUBSPOT_LATENCY`` / ``SANDBOX_BRAZE_LATENCY`` (``MEDIAN:P99`` seconds, e.g.
``0.4:1.5``) make HubSpot / Braze answer as slowly as the real ones.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sandbox.servers.amplitude import SANDBOX_API_KEY, SANDBOX_SECRET_KEY, AmplitudeServer
from sandbox.servers.braze import SANDBOX_BRAZE_API_KEY, BrazeServer
from sandbox.servers.hubspot import SANDBOX_HUBSPOT_TOKEN, HubSpotServer
from sandbox.servers.latency import Latency
from sandbox.servers.mixpanel import (
    SANDBOX_PROJECT_ID,
    SANDBOX_SECRET,
    SANDBOX_USERNAME,
    MixpanelServer,
)


def hubspot_state_path(exports: Path) -> Path:
    """Where ``recur sandbox`` keeps HubSpot's state: ``<exports>/../sandbox/hubspot.sqlite``."""
    return Path(exports).absolute().parent / "sandbox" / "hubspot.sqlite"


def braze_state_path(exports: Path) -> Path:
    """Where ``recur sandbox`` keeps Braze's profiles: ``<exports>/../sandbox/braze.json``."""
    return Path(exports).absolute().parent / "sandbox" / "braze.json"


def latency_from_env(name: str) -> Latency | None:
    """The ``MEDIAN:P99`` latency in the variable ``name``, or None when unset."""
    text = os.environ.get(name, "").strip()
    return Latency.parse(text) if text else None


def serve(exports: Path, host: str = "127.0.0.1", port: int = 8765) -> int:
    """Serve Mixpanel's APIs on ``port``, Amplitude's on ``port + 1``, HubSpot's on
    ``port + 2`` and Braze's on ``port + 3`` until interrupted."""
    # No hourly budget here: a local backfill of months must not wait an hour per 60 days.
    mixpanel = MixpanelServer(exports, max_per_hour=None)
    amplitude = AmplitudeServer(exports)
    hubspot = HubSpotServer(
        hubspot_state_path(exports), latency=latency_from_env("SANDBOX_HUBSPOT_LATENCY")
    )
    braze = BrazeServer(
        braze_state_path(exports), latency=latency_from_env("SANDBOX_BRAZE_LATENCY")
    )
    mixpanel.start(host, port)
    amplitude.start(host, port + 1)
    hubspot.start(host, port + 2)
    braze.start(host, port + 3)
    print(f"Serving {exports} through local vendor APIs. Point Recur at them with:\n")
    print(f"  export MIXPANEL_EXPORT_URL={mixpanel.url} MIXPANEL_QUERY_URL={mixpanel.url}")
    print(f"  export MIXPANEL_SERVICE_ACCOUNT_USERNAME={SANDBOX_USERNAME}")
    print(f"  export MIXPANEL_SERVICE_ACCOUNT_SECRET={SANDBOX_SECRET}")
    print(f"  export MIXPANEL_PROJECT_ID={SANDBOX_PROJECT_ID}")
    print(f"  export AMPLITUDE_BASE_URL={amplitude.url}")
    print(f"  export AMPLITUDE_API_KEY={SANDBOX_API_KEY} AMPLITUDE_SECRET_KEY={SANDBOX_SECRET_KEY}")
    print(f"  export HUBSPOT_BASE_URL={hubspot.url} HUBSPOT_ACCESS_TOKEN={SANDBOX_HUBSPOT_TOKEN}")
    print(f"  export BRAZE_REST_URL={braze.url} BRAZE_API_KEY={SANDBOX_BRAZE_API_KEY}")
    print(f"\nHubSpot state: {hubspot.state_path}")
    print(f"Braze state: {braze.state_path} (saved when the sandbox stops)")
    print("\nCtrl-C stops them.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        mixpanel.stop()
        amplitude.stop()
        hubspot.stop()
        braze.stop()
    return 0
