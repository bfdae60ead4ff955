"""The dbt models as Dagster assets: one `dbt build` per run for the selected models."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration import environment
from orchestration.dbt_project import dbt_project, dbt_vars_args, keep_from_copy, prepare
from orchestration.defs.transform.ltv_status import ltv_status_metadata
from orchestration.defs.transform.translator import RecurDbtTranslator
from orchestration.metadata import preview
from orchestration.resources import WarehouseResource
from sources.parquet_mirror import mirror
from sources.spark_views import publish
from sources.warehouse import connect


def with_table_metadata(
    context: AssetExecutionContext, outputs: list[dg.Output], warehouse: WarehouseResource
) -> Iterator[dg.Output]:
    """Each model's row count and first rows, read after dbt has released the DuckDB file (it
    holds the write lock while it runs, so they cannot be read while it streams)."""
    try:
        con = connect(warehouse.path, read_only=True)
    except duckdb.Error as exc:
        context.log.warning(f"no row counts: the warehouse could not be opened ({exc})")
        yield from outputs
        return
    try:
        for output in outputs:
            relation = ".".join(context.asset_key_for_output(output.output_name).path)
            try:
                rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
                extra = {
                    "dagster/row_count": dg.MetadataValue.int(rows),
                    "preview": dg.MetadataValue.md(preview(con, relation)),
                    **ltv_status_metadata(context, con, relation),
                }
            except duckdb.Error:  # a model that is not a table (ephemeral), or was dropped
                extra = {}
            yield output.with_metadata({**output.metadata, **extra})
    finally:
        con.close()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=RecurDbtTranslator(),
    project=dbt_project,
)
def recur_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator:
    """Builds (runs and tests) the dbt models selected in this run, in dependency order, and
    reports each model's row count and first rows. dbt's unit tests need the models' tables to
    exist and check code, not data: they run in CI."""
    environment.as_of()  # a bad RECUR_AS_OF stops here, named, before dbt pastes it into SQL
    prepare(for_dbt=True)  # dbt keeps the prepared parse only if it was made with these settings
    spark = environment.engine() == "spark"
    if spark:  # Spark reads the raw tables from their Parquet mirror, refreshed before each build
        mirrored = mirror(Path(warehouse.path), environment.parquet_mirror_path())
        context.log.info(
            f"raw tables mirrored for Spark: {', '.join(m.table for m in mirrored)} "
            f"({sum(m.rows for m in mirrored):,} rows) in {environment.parquet_mirror_path()}"
        )
    outputs: list[dg.Output] = []
    invocation = None
    try:
        args = ["build", "--exclude", "test_type:unit", *dbt_vars_args()]
        invocation = dbt.cli(args, context=context)
        for event in invocation.stream():
            if isinstance(event, dg.Output):
                outputs.append(event)
            else:
                yield event
    finally:
        if invocation is not None:  # dagster-dbt's copy of the project, for a huge selection
            target = Path(dbt_project.project_dir) / dbt_project.target_path
            keep_from_copy(invocation.project_dir, invocation.target_path, target)
        if spark:  # what Spark built, readable through the warehouse (sources/spark_views.py)
            views = publish(Path(warehouse.path), environment.spark_dir())
            context.log.info(f"{len(views)} Spark tables published as warehouse views")
        # Also when dbt failed: the models it did build are materialized, with their counts.
        yield from with_table_metadata(context, outputs, warehouse)
