"""`recur sandbox`: the local export APIs in the foreground, serving an export folder."""

from __future__ import annotations

import threading
from pathlib import Path

from sandbox.servers.amplitude import SANDBOX_API_KEY, SANDBOX_SECRET_KEY, AmplitudeServer
from sandbox.servers.mixpanel import (
    SANDBOX_PROJECT_ID,
    SANDBOX_SECRET,
    SANDBOX_USERNAME,
    MixpanelServer,
)


def serve(exports: Path, host: str = "127.0.0.1", port: int = 8765) -> int:
    """Serve Mixpanel's APIs on ``port`` and Amplitude's on ``port + 1`` until interrupted."""
    # No hourly budget here: a local backfill of months must not wait an hour per 60 days.
    mixpanel = MixpanelServer(exports, max_per_hour=None)
    amplitude = AmplitudeServer(exports)
    mixpanel.start(host, port)
    amplitude.start(host, port + 1)
    print(f"Serving {exports} through local export APIs. Point Recur at them with:\n")
    print(f"  export MIXPANEL_EXPORT_URL={mixpanel.url} MIXPANEL_QUERY_URL={mixpanel.url}")
    print(f"  export MIXPANEL_SERVICE_ACCOUNT_USERNAME={SANDBOX_USERNAME}")
    print(f"  export MIXPANEL_SERVICE_ACCOUNT_SECRET={SANDBOX_SECRET}")
    print(f"  export MIXPANEL_PROJECT_ID={SANDBOX_PROJECT_ID}")
    print(f"  export AMPLITUDE_BASE_URL={amplitude.url}")
    print(f"  export AMPLITUDE_API_KEY={SANDBOX_API_KEY} AMPLITUDE_SECRET_KEY={SANDBOX_SECRET_KEY}")
    print("\nCtrl-C stops them.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        mixpanel.stop()
        amplitude.stop()
    return 0
