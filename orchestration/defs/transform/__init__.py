"""Transformation: the dbt project (staging, intermediate, core marts)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.dbt_project import KEPT_COMMAND_FOLDERS, dbt_executable, dbt_project, prune
from orchestration.defs.transform.assets import recur_dbt_models


class RecurDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two things it does in Dagster's own process before dbt
    commands; tests/integration/test_dagster_dbt.py pins both hooks.

    - The dbt adapter it opens before every command (1.8-3.5 s here: dbt's project, profile and
      DuckDB plugin), used only for ``fetch_column_metadata()``, which Recur does not call: row
      counts and previews are read by `with_table_metadata` after dbt ends. dagster-dbt treats a
      missing adapter as allowed (``adapter=None``).
    - ``dbt --version`` run as a process of its own to learn which dbt runs (2.3 s, a Python
      importing dbt, once per run): the dbt that runs is dbt-core installed beside Recur
      (`recur-dbt` starts the dbt next to this interpreter), so its version is read from the
      installed package.

    And it keeps the target folders of the latest dbt commands only (:func:`prune`)."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None

    @cached_property
    def _cli_version(self) -> version.Version:  # type: ignore[override]
        return version.parse(installed_version("dbt-core"))

    def _get_unique_target_path(self, *, context: object) -> Path:  # type: ignore[override]
        path = super()._get_unique_target_path(context=context)
        prune(Path(self.project_dir).joinpath(path.parent), keep=KEPT_COMMAND_FOLDERS - 1)
        return path


defs = dg.Definitions(
    assets=[recur_dbt_models],
    # dbt through `recur-dbt`, which ends dbt when the step's process dies (child_process.py)
    resources={
        "dbt": RecurDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
    },
)
