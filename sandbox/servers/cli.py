"""`recur sandbox`: the local vendor APIs in the foreground.

Mixpanel and Amplitude serve an export folder; HubSpot keeps its contacts and lists in
``<exports>/../sandbox/hubspot.sqlite``, so they survive a restart. ``SANDBOX_HUBSPOT_LATENCY``
(``MEDIAN:P99`` seconds, e.g. ``0.4:1.5``) makes HubSpot answer as slowly as the real one.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sandbox.servers.amplitude import SANDBOX_API_KEY, SANDBOX_SECRET_KEY, AmplitudeServer
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


def serve(exports: Path, host: str = "127.0.0.1", port: int = 8765) -> int:
    """Serve Mixpanel's APIs on ``port``, Amplitude's on ``port + 1`` and HubSpot's on
    ``port + 2`` until interrupted."""
    # No hourly budget here: a local backfill of months must not wait an hour per 60 days.
    mixpanel = MixpanelServer(exports, max_per_hour=None)
    amplitude = AmplitudeServer(exports)
    latency = os.environ.get("SANDBOX_HUBSPOT_LATENCY", "").strip()
    hubspot = HubSpotServer(
        hubspot_state_path(exports), latency=Latency.parse(latency) if latency else None
    )
    mixpanel.start(host, port)
    amplitude.start(host, port + 1)
    hubspot.start(host, port + 2)
    print(f"Serving {exports} through local vendor APIs. Point Recur at them with:\n")
    print(f"  export MIXPANEL_EXPORT_URL={mixpanel.url} MIXPANEL_QUERY_URL={mixpanel.url}")
    print(f"  export MIXPANEL_SERVICE_ACCOUNT_USERNAME={SANDBOX_USERNAME}")
    print(f"  export MIXPANEL_SERVICE_ACCOUNT_SECRET={SANDBOX_SECRET}")
    print(f"  export MIXPANEL_PROJECT_ID={SANDBOX_PROJECT_ID}")
    print(f"  export AMPLITUDE_BASE_URL={amplitude.url}")
    print(f"  export AMPLITUDE_API_KEY={SANDBOX_API_KEY} AMPLITUDE_SECRET_KEY={SANDBOX_SECRET_KEY}")
    print(f"  export HUBSPOT_BASE_URL={hubspot.url} HUBSPOT_ACCESS_TOKEN={SANDBOX_HUBSPOT_TOKEN}")
    print(f"\nHubSpot state: {hubspot.state_path}")
    print("\nCtrl-C stops them.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        mixpanel.stop()
        amplitude.stop()
        hubspot.stop()
    return 0
