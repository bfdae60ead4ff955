"""Syncs: one asset per audience -> destination declaration in the dbt project."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.syncs.assets import sync_assets


def build_defs() -> dg.Definitions:
    """The sync assets, with the email check's thresholds read from the environment now."""
    return dg.Definitions(assets=sync_assets())
