"""Transformation: the dbt project (staging, intermediate, core marts)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.dbt_project import dbt_executable, dbt_project
from orchestration.defs.transform.assets import recur_dbt_models


class RecurDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without the dbt adapter it opens in Dagster's own process before
    every dbt command (1.8-3.5 s here: dbt's project, profile and DuckDB plugin). dagster-dbt
    uses it only for ``fetch_column_metadata()``, which Recur does not call: row counts and
    previews are read by `with_table_metadata` after dbt ends. dagster-dbt treats a missing
    adapter as allowed (``adapter=None``); tests/integration/test_dagster_dbt.py pins the hook."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


defs = dg.Definitions(
    assets=[recur_dbt_models],
    # dbt through `recur-dbt`, which ends dbt when the step's process dies (child_process.py)
    resources={
        "dbt": RecurDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
    },
)
