"""Destinations by name, as sync declarations name them (``destination: hubspot``)."""

from __future__ import annotations

from pathlib import Path

from syncs.destinations.base import Destination
from syncs.errors import SyncConfigError

NAMES = ("hubspot", "braze", "file")


def destination_for(name: str, *, files_dir: Path) -> Destination:
    """A configured destination; raises NotConfigured when its credentials are missing."""
    if name == "hubspot":
        from syncs.destinations.hubspot import HubSpotDestination

        return HubSpotDestination.from_env()
    if name == "braze":
        from syncs.destinations.braze import BrazeDestination

        return BrazeDestination.from_env()
    if name == "file":
        from syncs.destinations.file import FileDestination

        return FileDestination(files_dir)
    raise SyncConfigError(f"unknown destination {name!r}; Recur knows {', '.join(NAMES)}")
