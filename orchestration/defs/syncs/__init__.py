"""Syncs: one asset per audience -> destination declaration in the dbt project."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.syncs.assets import sync_assets

defs = dg.Definitions(assets=sync_assets())
