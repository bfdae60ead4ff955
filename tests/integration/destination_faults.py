"""What the destination fault tests share (test_hubspot_sync.py, test_braze_sync.py): an
audience table, a run with quick retries, and a sync process killed with SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from syncs.destinations.base import Destination
from syncs.engine import RetryPolicy, RunResult, run_sync
from syncs.spec import SyncSpec
from syncs.state import StateStore

FAST = RetryPolicy(max_attempts=5, base_delay=0.01)


def make_audience(path: Path, columns: str, rows: Sequence[tuple]) -> duckdb.DuckDBPyConnection:
    """A warehouse file at ``path`` whose ``audiences.aud_test`` has ``columns`` (DDL) and
    ``rows``; returns the open connection."""
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists audiences")
    con.execute(f"create or replace table audiences.aud_test ({columns})")
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"insert into audiences.aud_test values ({marks})", rows)
    return con


def run(
    spec: SyncSpec,
    make: Callable[..., Destination],
    warehouse: duckdb.DuckDBPyConnection,
    state: StateStore,
    *,
    options: Sequence[str] = (),
    **kwargs: Any,
) -> RunResult:
    """One run of ``spec``; keyword arguments named in ``options`` go to ``make`` (the
    destination factory), the others to :func:`run_sync` (``policy`` defaults to :data:`FAST`)."""
    made = {k: kwargs.pop(k) for k in options if k in kwargs}
    return run_sync(
        spec,
        warehouse=warehouse,
        state=state,
        destination=lambda: make(**made),
        policy=kwargs.pop("policy", FAST),
        **kwargs,
    )


#: The sync a killed process runs: ``SPEC`` to ``killable_destination(url)`` of ``{module}``.
KILLABLE = textwrap.dedent(
    """
    import sys, duckdb
    from syncs.engine import run_sync
    from syncs.state import StateStore
    from {module} import SPEC, killable_destination
    url, wh, st = sys.argv[1:4]
    con = duckdb.connect(wh, read_only=True)
    run_sync(SPEC, warehouse=con, state=StateStore(st), destination=killable_destination(url),
             concurrency={concurrency})
    """
)


def kill_mid_run(
    module: str,
    url: str,
    folder: Path,
    calls: Callable[[], int],
    *,
    concurrency: int,
    after: int = 6,
) -> None:
    """Sync ``module``'s ``SPEC`` (warehouse ``folder/wh.duckdb``, state ``folder/st.duckdb``)
    to ``url`` in a new process, and SIGKILL it once ``calls()`` (the sandbox's count of write
    requests) reaches ``after``."""
    script = KILLABLE.format(module=module, concurrency=concurrency)
    args = [url, str(folder / "wh.duckdb"), str(folder / "st.duckdb")]
    proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=os.getcwd())
    deadline = time.monotonic() + 60
    while calls() < after and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the sync process ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def resume(
    folder: Path, sync: str, again: Callable[[duckdb.DuckDBPyConnection, StateStore], RunResult]
) -> tuple[int, RunResult]:
    """After :func:`kill_mid_run`: how many rows the killed run committed, and the result of
    ``again(warehouse, state)`` on the same files."""
    with StateStore(folder / "st.duckdb") as state:
        committed = len(state.records(sync))
        con = duckdb.connect(str(folder / "wh.duckdb"), read_only=True)
        try:
            return committed, again(con, state)
        finally:
            con.close()
