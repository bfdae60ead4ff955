"""Transformation: the dbt project (staging, intermediate, core marts)."""

from __future__ import annotations

import dagster as dg

from orchestration.dbt_project import RecurDbtCliResource, dbt_executable, dbt_project
from orchestration.defs.transform.assets import recur_dbt_models

defs = dg.Definitions(
    assets=[recur_dbt_models],
    # dbt through `recur-dbt`, which ends dbt when the step's process dies (child_process.py)
    resources={
        "dbt": RecurDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
    },
)
