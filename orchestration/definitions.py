"""The Dagster code location: every domain's definitions, plus the few global things.

Steps run in one process (``in_process_executor``): each step writes the single DuckDB file, so
running them in parallel processes would only make them wait on its lock, and a process per step
costs ~1 s of imports each (stack.md §4.6: 23.5 s instead of 38-41 s for a full run).
"""

from __future__ import annotations

import dagster as dg

from orchestration import environment
from orchestration.defs import automation, ingest, quality, reports, syncs, transform
from orchestration.resources import (
    ExportAPIResource,
    ExportFolderResource,
    SyncResource,
    WarehouseResource,
)


def resources() -> dict[str, object]:
    """The resources every domain shares, configured from the environment."""
    return {
        "warehouse": WarehouseResource(path=str(environment.warehouse_path())),
        "exports": ExportFolderResource(path=str(environment.exports_path())),
        "mixpanel_api": ExportAPIResource(source="mixpanel"),
        "amplitude_api": ExportAPIResource(source="amplitude"),
        "sync": SyncResource(
            warehouse=str(environment.warehouse_path()),
            state=str(environment.state_path()),
            files_dir=str(environment.audience_files_path()),
        ),
    }


def build_defs() -> dg.Definitions:
    """All definitions, with resources read from the environment now."""
    return dg.Definitions.merge(
        ingest.defs,
        transform.defs,
        quality.build_defs(),
        reports.defs,
        syncs.build_defs(),
        automation.defs,
        dg.Definitions(resources=resources(), executor=dg.in_process_executor),
    )


defs = build_defs()
