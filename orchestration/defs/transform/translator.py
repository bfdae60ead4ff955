"""How dbt models appear in Dagster: keys by schema, groups by layer, owners."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from orchestration.defs.automation.conditions import model_condition


class RecurDbtTranslator(DagsterDbtTranslator):
    """Keys ``<schema>/<model>`` (``core/fct_events``) so they read like the warehouse tables."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        """Sources map to the ingest assets through their ``meta.dagster.asset_key``; models and
        seeds are keyed by schema and name."""
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The layer's group (``meta.dagster.group`` in dbt_project.yml); seeds join staging."""
        group = super().get_group_name(dbt_resource_props)
        if group is None and dbt_resource_props["resource_type"] == "seed":
            return "staging"
        return group

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        """Models and seeds rebuild after their upstream updates (see automation/conditions.py);
        sources are the ingest assets, started by the schedules and the sensor."""
        if dbt_resource_props["resource_type"] == "source":
            return None
        return model_condition()

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return ["team:analytics-engineering"]
