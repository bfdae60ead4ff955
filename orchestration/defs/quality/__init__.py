"""Quality: great-expectations suites as asset checks (blocking ones gate the syncs), and
freshness checks on the ingest assets and core marts, and a warning when a configured event name
matched no event."""

from __future__ import annotations

import os

import dagster as dg

from checks import Thresholds
from orchestration.defs.quality.asset_checks import (
    freshness_checks,
    freshness_sensor,
    quality_checks,
)
from orchestration.defs.quality.event_names import event_names_matched


def build_defs(thresholds: Thresholds | None = None) -> dg.Definitions:
    """The checks, with thresholds read from the environment now (``RECUR_CHECK_*`` and
    ``RECUR_EARLIEST_EVENT``), so that definitions built after a setting changed use it."""
    thresholds = thresholds or Thresholds.from_env(os.environ)
    freshness = freshness_checks(thresholds)
    return dg.Definitions(
        asset_checks=[*quality_checks(thresholds=thresholds), *freshness, event_names_matched],
        sensors=[freshness_sensor(freshness)],
    )
