"""Quality: great-expectations suites as asset checks (blocking ones gate the syncs), and
freshness checks on the ingest assets and core marts, and a warning when a configured event name
matched no event."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.quality.asset_checks import (
    freshness_checks,
    freshness_sensor,
    quality_checks,
)
from orchestration.defs.quality.event_names import event_names_matched

_freshness = freshness_checks()

defs = dg.Definitions(
    asset_checks=[*quality_checks(), *_freshness, event_names_matched],
    sensors=[freshness_sensor(_freshness)],
)
