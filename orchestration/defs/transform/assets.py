"""The dbt models as Dagster assets: one `dbt build` per run for the selected models."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.
from collections.abc import Iterator

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt_project import dbt_project
from orchestration.defs.transform.translator import RecurDbtTranslator


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=RecurDbtTranslator(),
    project=dbt_project,
)
def recur_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator:
    """Builds (runs and tests) the dbt models selected in this run, in dependency order. dbt's
    unit tests need the models' tables to exist and check code, not data: they run in CI."""
    yield from dbt.cli(["build", "--exclude", "test_type:unit"], context=context).stream()
