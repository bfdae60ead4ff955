"""Sync assets, made from the ``meta.recur.syncs`` declarations of the audience models.

An analytics engineer adds an audience and its syncs in dbt YAML; this module turns each
declaration into an asset downstream of its audience, so no Python changes.
"""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.
import json

import dagster as dg

from orchestration.dbt_project import dbt_project
from orchestration.defs.automation.conditions import sync_condition
from orchestration.resources import SyncResource
from syncs.engine import RunResult
from syncs.errors import FatalError
from syncs.spec import SyncSpec, load_specs


def _metadata(result: RunResult) -> dict:
    c = result.counts
    metadata = {
        "status": result.status,
        **{
            name: dg.MetadataValue.int(int(c.get(name, 0)))
            for name in (
                "audience_rows",
                "added",
                "changed",
                "removed",
                "unchanged",
                "invalid",
                "delivered",
                "rejected",
                "requests",
                "throttled",
                "retries",
            )
        },
        "duration_seconds": dg.MetadataValue.float(round(result.seconds, 2)),
        "run_id": result.run_id,
    }
    if result.error:
        metadata["error"] = dg.MetadataValue.text(result.error)
    if any(result.samples.values()):
        metadata["samples"] = dg.MetadataValue.json(json.loads(json.dumps(result.samples)))
    return metadata


def build_sync_asset(spec: SyncSpec) -> dg.AssetsDefinition:
    """The asset that runs ``spec``: ``syncs/<name>``, downstream of ``<schema>/<audience>``."""
    target = f"the static list {spec.list!r}" if spec.list else f"{spec.object}"
    description = (
        f"Sync of the audience {spec.audience} to {spec.destination} ({target}), mode "
        f"{spec.mode}, matched on {spec.match_key}. Sends only what changed since the last "
        "confirmed delivery; refused rows stay dirty and are retried on the next run."
    )

    @dg.asset(
        key=["syncs", spec.name],
        deps=[dg.AssetKey([spec.schema, spec.audience])],
        group_name="syncs",
        kinds={spec.destination, "python"},
        owners=["team:data"],
        description=description,
        # Runs after its audience materialized, by the `automation` sensor (a run that
        # materializes the audience and the sync together does not trigger it again).
        automation_condition=sync_condition(),
        metadata={
            "destination": spec.destination,
            "mode": spec.mode,
            "match_key": spec.match_key,
            "fields": dg.MetadataValue.json(dict(spec.fields)),
            **({"list": spec.list} if spec.list else {}),
        },
    )
    def _sync(context: dg.AssetExecutionContext, sync: SyncResource) -> dg.MaterializeResult:
        try:
            result = sync.run(spec)
        except FatalError as exc:
            raise dg.Failure(
                description=f"{spec.name}: {exc}",
                metadata={"hint": "rows not confirmed stay dirty and are sent on the next run"},
            ) from exc
        if result.status == "skipped":
            context.log.warning(f"{spec.name} skipped: {result.error}")
        else:
            context.log.info(result.summary())
        return dg.MaterializeResult(metadata=_metadata(result))

    return _sync


def sync_assets() -> list[dg.AssetsDefinition]:
    """One asset per declared sync in the dbt manifest."""
    return [build_sync_asset(spec) for spec in load_specs(dbt_project.manifest_path)]
