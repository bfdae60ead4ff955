"""Ingestion: export files into DuckDB's raw schema."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.ingest.asset_checks import ledger_checks
from orchestration.defs.ingest.assets import (
    raw_amplitude_events,
    raw_mixpanel_events,
    raw_mixpanel_profiles,
)
from orchestration.defs.ingest.planning import ingest_jobs
from orchestration.defs.ingest.sensors import new_export_files

defs = dg.Definitions(
    assets=[raw_mixpanel_events, raw_amplitude_events, raw_mixpanel_profiles],
    asset_checks=ledger_checks,
    jobs=list(ingest_jobs.values()),
    sensors=[new_export_files],
)
