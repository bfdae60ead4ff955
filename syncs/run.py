"""Run declared syncs against the warehouse and state files (what Dagster and the CLI call)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sources.warehouse import connect
from syncs.destinations import destination_for
from syncs.engine import CONCURRENCY, RetryPolicy, RunResult, run_sync
from syncs.spec import SyncSpec
from syncs.state import StateStore


def sync_files(
    spec: SyncSpec,
    *,
    warehouse: Path,
    state: Path,
    files_dir: Path,
    dry_run: bool = False,
    policy: RetryPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
    concurrency: int = CONCURRENCY,
) -> RunResult:
    """One run of ``spec``: the warehouse opened read-only, the state file read-write.

    Raises :class:`~syncs.errors.FatalError` when the destination stops the run (recorded first).
    """
    con = connect(warehouse, read_only=True)
    try:
        with StateStore(state) as store:
            return run_sync(
                spec,
                warehouse=con,
                state=store,
                destination=lambda: destination_for(spec.destination, files_dir=files_dir),
                dry_run=dry_run,
                policy=policy,
                progress=progress,
                concurrency=concurrency,
            )
    finally:
        con.close()
